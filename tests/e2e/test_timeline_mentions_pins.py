"""Mentions and pinned messages in groups (issue 16) with stomp.py over TCP, on both
deployments: `mentions` stored as `extra.mentions`, each member's `mentionCount` in the
conversation list counted after their read marker and cleared by it, @all for the owner
and admins unless the group lets members use it; pins by the owner or an admin, heard
by members only, listed, and each pin or unpin a system message of the group.
"""

from __future__ import annotations

import time
from typing import Any

from interop._fullnode import FullNode

from ._actors import Devices, Person, json_of

PRIVATE = "/app/chat/private"
GROUP = "/app/chat/group"


def mention_count(person: Person, cid: int) -> int:
    [item] = [c for c in person.call("GET", "/api/conversation/list")["list"]
              if c["conversationId"] == cid]
    return int(item["mentionCount"])


def test_mentions_counted_and_cleared_by_the_read_marker(
    node: FullNode, devices: Devices
) -> None:
    alice, bob, carol, dave = (Person(node, n) for n in ("alice", "bob", "carol", "dave"))
    alice.befriend(bob)
    alice.befriend(carol)
    gid = alice.group_with("g", bob, carol)
    topic = f"/topic/chat/{gid}"
    bob_dev = devices.device(bob)
    phone = devices.device(carol, label="carol-phone")
    laptop = devices.device(carol, token=carol.login()["token"], label="carol-laptop")
    for dev in (bob_dev, phone, laptop):
        dev.subscribe(topic, "g")
    alice_dev = devices.device(alice)

    sent = bob_dev.stored(GROUP, {"groupId": gid, "content": "@carol look",
                                  "mentions": [carol.id]})
    cid = int(sent["conversation-id"])
    for dev in (phone, laptop):
        [msg] = dev.wait_on("g", 1, f"the mention at {dev.label}")
        assert json_of(msg)["extra"] == {"mentions": {"userIds": [carol.id], "all": False}}
    assert (mention_count(carol, cid), mention_count(bob, cid), mention_count(alice, cid)) == (
        1, 0, 0)

    # @all by the owner counts for everyone but the sender
    alice_dev.stored(GROUP, {"groupId": gid, "content": "@all standup", "mentions": ["all"]})
    assert (mention_count(carol, cid), mention_count(bob, cid), mention_count(alice, cid)) == (
        2, 1, 0)
    # a plain member may not @all until the group allows it
    denied = bob_dev.receipt(bob_dev.send_json(GROUP, {"groupId": gid, "content": "@all",
                                                       "mentions": ["all"]}))
    assert denied["x-error-code"] == "4003" and "message-id" not in denied
    alice.call("PUT", f"/api/group/{gid}", {"allowMemberMentionAll": True})
    assert alice.call("GET", f"/api/group/{gid}")["allowMemberMentionAll"] is True
    bob_dev.stored(GROUP, {"groupId": gid, "content": "@all lunch", "mentions": ["all"]})
    assert mention_count(carol, cid) == 3 and mention_count(alice, cid) == 1

    # the read marker clears them, only up to where it points
    carol.call("POST", "/api/message/read", {"conversationId": cid, "seq": 2})
    assert mention_count(carol, cid) == 1
    carol.call("POST", "/api/message/read", {"conversationId": cid, "seq": 3})
    assert mention_count(carol, cid) == 0
    # a recalled mention no longer counts
    bob.call("POST", f"/api/message/{sent['message-id']}/recall")
    assert mention_count(carol, cid) == 0 and mention_count(alice, cid) == 1

    # refusals: a non-member, a private message
    for body, code in (
        ({"groupId": gid, "content": "hey", "mentions": [dave.id]}, "9001"),
        ({"groupId": gid, "content": "hey", "mentions": "carol"}, "9001"),
    ):
        got = bob_dev.receipt(bob_dev.send_json(GROUP, body))
        assert got.get("x-error-code") == code, (body, got)
    got = alice_dev.receipt(alice_dev.send_json(PRIVATE, {"toUserId": bob.id, "content": "x",
                                                          "mentions": [bob.id]}))
    assert got.get("x-error-code") == "9001"


def test_pins_by_owner_and_admin_only(node: FullNode, devices: Devices) -> None:
    alice, bob, carol, dave = (Person(node, n) for n in ("alice", "bob", "carol", "dave"))
    alice.befriend(bob)
    alice.befriend(carol)
    gid = alice.group_with("g", bob, carol)
    alice.call("PUT", f"/api/group/{gid}/admin/{bob.id}", {"admin": True})
    topic = f"/topic/chat/{gid}"
    carol_dev = devices.device(carol)
    carol_two = devices.device(carol, token=carol.login()["token"], label="carol-two")
    for dev in (carol_dev, carol_two):
        dev.subscribe(topic, "g")
    outsider = devices.device(dave)
    outsider.subscribe("/user/queue/chat", "q")
    outsider.subscribe(f"/topic/pins-{gid}", "t")
    first = carol_dev.stored(GROUP, {"groupId": gid, "content": "rules: be nice"})
    second = carol_dev.stored(GROUP, {"groupId": gid, "content": "wifi: hunter2"})
    mid1, mid2 = int(first["message-id"]), int(second["message-id"])
    cid = int(first["conversation-id"])

    carol.call("POST", f"/api/message/{mid1}/pin", expect=4003)  # a plain member
    dave.call("POST", f"/api/message/{mid1}/pin", expect=3002)  # not even a member
    state = alice.call("POST", f"/api/message/{mid1}/pin")
    assert state == {"groupId": gid, "conversationId": cid, "messageId": mid1,
                     "seq": int(first["seq"]), "pinned": True, "operatorId": alice.id}
    bob.call("POST", f"/api/message/{mid2}/pin")  # an admin
    for dev in (carol_dev, carol_two):
        dev.log.wait(lambda dev=dev: len(dev.events("g", "pin")) == 2, f"pins at {dev.label}")
        assert [(e["messageId"], e["pinned"], e["operatorId"]) for e in dev.events("g", "pin")] \
            == [(mid1, True, alice.id), (mid2, True, bob.id)]
    pins = carol.call("GET", f"/api/group/{gid}/pins")
    assert [(p["message"]["id"], p["pinnedBy"]) for p in pins] == [(mid2, bob.id),
                                                                  (mid1, alice.id)]
    assert pins[0]["message"]["content"] == "wifi: hunter2"
    dave.call("GET", f"/api/group/{gid}/pins", expect=4002)

    alice.call("DELETE", f"/api/message/{mid2}/pin")
    carol_dev.log.wait(lambda: len(carol_dev.events("g", "pin")) == 3, "the unpin")
    assert carol_dev.events("g", "pin")[-1]["pinned"] is False
    assert [p["message"]["id"] for p in carol.call("GET", f"/api/group/{gid}/pins")] == [mid1]
    # each pin and unpin is also a system message of the group: live, and in history
    def pinned_notes(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(m["fromUserId"], m["content"], m["extra"]["messageId"], m["extra"]["seq"],
                 m["extra"]["pinned"]) for m in messages
                if m["type"] == "system" and m["extra"]["event"] == "message_pinned"]

    want = [(alice.id, "alice pinned a message", mid1, int(first["seq"]), True),
            (bob.id, "bob pinned a message", mid2, int(second["seq"]), True),
            (alice.id, "alice unpinned a message", mid2, int(second["seq"]), False)]
    for dev in (carol_dev, carol_two):
        dev.log.wait(lambda dev=dev: len(pinned_notes(
            [json_of(m) for m in dev.chat("g")])) == 3, f"pin notes at {dev.label}")
        assert pinned_notes([json_of(m) for m in dev.chat("g")]) == want
    assert pinned_notes(carol.history(cid)) == want
    bob.call("DELETE", f"/api/message/{mid2}/pin")  # not pinned: no change, no note
    # a recalled message leaves the pins
    alice.call("POST", f"/api/message/{mid1}/recall")
    assert carol.call("GET", f"/api/group/{gid}/pins") == []
    alice.befriend(dave)
    private = devices.device(alice).stored(PRIVATE, {"toUserId": dave.id, "content": "p"})
    alice.call("POST", f"/api/message/{private['message-id']}/pin", expect=9001)
    time.sleep(0.2)
    heard = [json_of(m).get("content") for m in outsider.log.messages]
    assert heard == ["p"], "dave heard more than alice's private message to him"
    assert pinned_notes(carol.history(cid)) == want  # the recall unpinned without a note
