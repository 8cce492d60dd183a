"""Reactions, delete-for-me and clear history (issue 16) with stomp.py over TCP, two
devices per user, on both deployments: reaction events reach the participants only and
history counts them with "mine"; deleting or clearing changes the caller's history,
replay and list alone, and only the caller's devices hear of it.
"""

from __future__ import annotations

import time

from interop._fullnode import FullNode

from ._actors import Devices, Person, json_of

PRIVATE = "/app/chat/private"
GROUP = "/app/chat/group"
THUMBS, HEART = "\N{THUMBS UP SIGN}", "\N{HEAVY BLACK HEART}\N{VARIATION SELECTOR-16}"


def test_reactions_from_two_users(node: FullNode, devices: Devices) -> None:
    alice, bob, carol, dave = (Person(node, n) for n in ("alice", "bob", "carol", "dave"))
    alice.befriend(bob)
    alice.befriend(carol)
    gid = alice.group_with("g", bob, carol)
    topic = f"/topic/chat/{gid}"
    alice_dev = devices.device(alice)
    phone = devices.device(bob, label="bob-phone")
    laptop = devices.device(bob, token=bob.login()["token"], label="bob-laptop")
    for dev in (alice_dev, phone, laptop):
        dev.subscribe(topic, "g")
    outsider = devices.device(dave)
    outsider.subscribe("/user/queue/chat", "q")
    outsider.subscribe("/topic/reactions", "t")

    sent = alice_dev.stored(GROUP, {"groupId": gid, "content": "release is out"})
    mid, cid = int(sent["message-id"]), int(sent["conversation-id"])
    path = f"/api/message/{mid}/reactions"
    mine = bob.call("POST", path, {"emoji": THUMBS})
    assert mine == {"messageId": mid, "reactions": [{"emoji": THUMBS, "count": 1, "mine": True}]}
    alice.call("POST", path, {"emoji": THUMBS})
    alice.call("POST", path, {"emoji": HEART})
    alice.call("POST", path, {"emoji": HEART})  # again: nothing changes, nobody hears it
    events = [
        {"event": "reaction", "messageId": mid, "conversationId": cid, "seq": 1,
         "userId": uid, "emoji": emoji, "action": "add", "count": count}
        for uid, emoji, count in ((bob.id, THUMBS, 1), (alice.id, THUMBS, 2),
                                  (alice.id, HEART, 1))
    ]
    for dev in (alice_dev, phone, laptop):
        dev.log.wait(lambda dev=dev: len(dev.events("g", "reaction")) >= 3,
                     f"reactions at {dev.label}")
    time.sleep(0.2)
    for dev in (alice_dev, phone, laptop):
        assert dev.events("g", "reaction") == events, dev.label

    [seen_by_bob] = bob.history(cid)
    assert seen_by_bob["reactions"] == [{"emoji": THUMBS, "count": 2, "mine": True},
                                        {"emoji": HEART, "count": 1, "mine": False}]
    [seen_by_carol] = carol.history(cid)
    assert [r["mine"] for r in seen_by_carol["reactions"]] == [False, False]

    # taking one back
    left = bob.call("DELETE", f"{path}?emoji=%F0%9F%91%8D")
    assert left["reactions"] == [{"emoji": THUMBS, "count": 1, "mine": False},
                                 {"emoji": HEART, "count": 1, "mine": False}]
    laptop.log.wait(lambda: len(laptop.events("g", "reaction")) == 4, "the removal")
    assert laptop.events("g", "reaction")[-1] == events[0] | {"action": "remove", "count": 1}
    # refusals: not an emoji, a message dave cannot see
    bob.call("POST", path, {"emoji": "two words"}, expect=9001)
    bob.call("POST", path, {"emoji": ""}, expect=9001)
    dave.call("POST", path, {"emoji": THUMBS}, expect=3002)
    time.sleep(0.2)
    assert outsider.log.messages == [], "dave heard reactions"

    # private chat: both users hear it
    bob_q, alice_q = devices.device(bob, label="bob-q"), devices.device(alice, label="alice-q")
    for dev in (bob_q, alice_q):
        dev.subscribe("/user/queue/chat", "q")
    private = bob_q.stored(PRIVATE, {"toUserId": alice.id, "content": "nice"})
    alice.call("POST", f"/api/message/{private['message-id']}/reactions", {"emoji": HEART})
    for dev in (bob_q, alice_q):
        dev.log.wait(lambda dev=dev: bool(dev.events("q", "reaction")), f"at {dev.label}")
        assert dev.events("q", "reaction")[0]["userId"] == alice.id


def test_delete_for_me_and_clear_history(node: FullNode, devices: Devices) -> None:
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    alice_dev = devices.device(alice)
    phone = devices.device(bob, label="bob-phone")
    laptop = devices.device(bob, token=bob.login()["token"], label="bob-laptop")
    for dev in (alice_dev, phone, laptop):
        dev.subscribe("/user/queue/chat", "q")
    ids = [int(alice_dev.stored(PRIVATE, {"toUserId": bob.id, "content": f"m{i}"})["message-id"])
           for i in range(3)]
    cid = int(alice_dev.log.receipt_headers[f"{alice_dev.label}-2"]["conversation-id"])
    phone.wait_on("q", 3, "three messages")

    # bob deletes the middle one for himself
    assert bob.call("POST", "/api/message/delete", {"messageIds": [ids[1]]}) == {"deleted": 1}
    want = {"event": "delete", "conversationId": cid, "messageIds": [ids[1]]}
    for dev in (phone, laptop):
        dev.log.wait(lambda dev=dev: bool(dev.events("q", "delete")), f"delete at {dev.label}")
        assert dev.events("q", "delete") == [want]
    assert [m["id"] for m in bob.history(cid)] == [ids[0], ids[2]]
    assert [m["id"] for m in alice.history(cid)] == ids  # the peer keeps it
    replay = devices.device(bob, label="bob-replay")
    replay.subscribe("/user/queue/chat", "q", **{"x-since-seq": "0"})
    assert [json_of(m)["id"] for m in replay.settled("q", 2, "bob's replay")] == [ids[0], ids[2]]
    peer_replay = devices.device(alice, label="alice-replay")
    peer_replay.subscribe("/user/queue/chat", "q", **{"x-since-seq": "0"})
    assert [json_of(m)["id"] for m in peer_replay.settled("q", 3, "alice's replay")] == ids
    # a message of someone else's conversation cannot be deleted (nor probed)
    carol = Person(node, "carol")
    carol.call("POST", "/api/message/delete", {"messageIds": [ids[0]]}, expect=3002)

    # bob clears the conversation: nothing before it for him, alice keeps all
    cleared = bob.call("POST", f"/api/conversation/{cid}/clear")
    assert cleared == {"conversationId": cid, "clearedSeq": 3}
    for dev in (phone, laptop):
        dev.log.wait(lambda dev=dev: bool(dev.events("q", "clear")), f"clear at {dev.label}")
        assert dev.events("q", "clear") == [{"event": "clear", "conversationId": cid, "seq": 3}]
    assert bob.history(cid) == []
    [bob_item] = bob.call("GET", "/api/conversation/list")["list"]
    assert bob_item["lastMessage"] is None
    [alice_item] = alice.call("GET", "/api/conversation/list")["list"]
    assert alice_item["lastMessage"]["id"] == ids[2]
    after = devices.device(bob, label="bob-after")
    after.subscribe("/user/queue/chat", "q", **{"x-since-seq": "0"})
    time.sleep(0.2)
    assert after.on("q") == []
    # what comes after the clear is seen as usual
    new = int(alice_dev.stored(PRIVATE, {"toUserId": bob.id, "content": "still there?"})
              ["message-id"])
    assert [m["id"] for m in bob.history(cid)] == [new]
    assert len(alice.history(cid)) == 4
    time.sleep(0.2)
    assert alice_dev.events("q", "delete") == [] and alice_dev.events("q", "clear") == []


def test_delete_for_me_in_a_group(node: FullNode, devices: Devices) -> None:
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    gid = alice.group_with("g", bob)
    dev = devices.device(alice)
    ids = [int(dev.stored(GROUP, {"groupId": gid, "content": f"g{i}"})["message-id"])
           for i in range(2)]
    cid = int(dev.log.receipt_headers[f"{dev.label}-1"]["conversation-id"])
    bob.call("POST", "/api/message/delete", {"messageIds": [ids[0]]})
    bob_dev = devices.device(bob)
    bob_dev.subscribe(f"/topic/chat/{gid}", "g", **{"x-since-seq": "0"})
    assert [json_of(m)["id"] for m in bob_dev.settled("g", 1, "bob's replay")] == [ids[1]]
    assert [m["id"] for m in bob.history(cid)] == [ids[1]]
    assert [m["id"] for m in alice.history(cid)] == ids
