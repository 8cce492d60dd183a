"""Notifications over a real STOMP connection (issue 4), stomp.py over TCP: friend events
pushed live to /user/queue/notification, kept in the notification center for users who
were offline, and a kicked member losing the group topic.
"""

from __future__ import annotations

import time

from interop._fullnode import FullNode

from ._actors import Devices, Person, json_of


def test_friend_request_and_acceptance_are_pushed_live(node: FullNode, devices: Devices) -> None:
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice_dev, bob_dev = devices.device(alice), devices.device(bob)
    for dev in (alice_dev, bob_dev):
        dev.subscribe("/user/queue/notification", "n")

    request = alice.call("POST", "/api/friend/request", {"toUserId": bob.id, "message": "hey"})
    [pushed] = bob_dev.wait_on("n", 1, "FRIEND_REQUEST")
    note = json_of(pushed)
    assert note["type"] == "FRIEND_REQUEST" and note["userId"] == bob.id and not note["read"]
    assert pushed.headers["destination"] == f"/queue/notification/{bob.id}"
    # the push is the notification center's row
    [stored] = bob.call("GET", "/api/notification?page=1&size=10")["records"]
    assert stored["id"] == note["id"] and stored["type"] == "FRIEND_REQUEST"

    bob.call("POST", f"/api/friend/request/{request['id']}/accept")
    [accepted] = alice_dev.wait_on("n", 1, "FRIEND_ACCEPTED")
    assert json_of(accepted)["type"] == "FRIEND_ACCEPTED"
    assert json_of(accepted)["userId"] == alice.id
    time.sleep(0.2)
    assert len(bob_dev.on("n")) == 1  # bob accepted; nothing more is pushed to him
    assert [f["friendId"] for f in alice.call("GET", "/api/friend/list")] == [bob.id]


def test_offline_user_finds_notifications_over_rest(node: FullNode, devices: Devices) -> None:
    alice, carol = Person(node, "alice"), Person(node, "carol")
    alice_dev = devices.device(alice)
    alice_dev.subscribe("/user/queue/notification", "n")
    request = alice.call("POST", "/api/friend/request", {"toUserId": carol.id, "message": "hello"})
    # carol had no connection at all: the center has it, unread
    page = carol.call("GET", "/api/notification?page=1&size=10")
    assert page["total"] == 1
    [note] = page["records"]
    assert note["type"] == "FRIEND_REQUEST" and note["read"] is False
    assert carol.call("GET", "/api/notification/unread-count") == 1
    carol.call("POST", f"/api/friend/request/{request['id']}/accept")
    assert carol.call("PUT", "/api/notification/read", {"ids": [note["id"]]}) == {"updated": 1}
    assert carol.call("GET", "/api/notification/unread-count") == 0
    # alice was online for the acceptance: pushed live and stored
    [live] = alice_dev.wait_on("n", 1, "FRIEND_ACCEPTED")
    [kept] = alice.call("GET", "/api/notification?page=1&size=10")["records"]
    assert kept["id"] == json_of(live)["id"] and kept["type"] == "FRIEND_ACCEPTED"


def test_kicked_member_loses_the_group_topic_and_cannot_resubscribe(
    node: FullNode, devices: Devices
) -> None:
    owner, bob, carol = Person(node, "owner"), Person(node, "bob"), Person(node, "carol")
    owner.befriend(bob)
    owner.befriend(carol)
    gid = owner.group_with("team", bob, carol)
    topic = f"/topic/chat/{gid}"
    owner_dev, bob_dev, carol_dev = (devices.device(p) for p in (owner, bob, carol))
    for dev in (bob_dev, carol_dev):
        dev.subscribe(topic, "g")
    bob_dev.subscribe("/user/queue/notification", "n")

    owner_dev.stored(topic, {"type": "text", "content": "before"})
    bob_dev.wait_on("g", 1, "the message before the kick")

    owner.call("DELETE", f"/api/group/{gid}/member/{bob.id}")
    [kicked] = bob_dev.wait_on("n", 1, "GROUP_KICKED")
    assert json_of(kicked)["type"] == "GROUP_KICKED"
    assert json_of(kicked)["extra"]["groupId"] == gid

    for n in range(3):
        owner_dev.stored(topic, {"type": "text", "content": f"after {n}"})
    carol_dev.wait_on("g", 5, "the kick and the messages after it, at a member")
    time.sleep(0.2)
    # the kicked member sees the kick itself (a system message), then nothing more
    assert [json_of(m)["content"] for m in bob_dev.on("g")] == ["before", "owner removed bob"]
    assert json_of(bob_dev.on("g")[1])["extra"]["event"] == "member_kicked"
    # bob's connection itself is untouched ...
    assert bob_dev.connected and not bob_dev.log.errors
    # ... but a new SUBSCRIBE to the group is refused: ERROR (no RECEIPT), then the close
    bob_dev.conn.subscribe(topic, id="again", receipt="resubscribe")
    bob_dev.log.wait(lambda: bool(bob_dev.log.errors), "ERROR for the SUBSCRIBE")
    [error] = bob_dev.log.errors
    assert error.headers.get("receipt-id") == "resubscribe"
    assert "forbidden" in error.headers["message"]
    assert "resubscribe" not in bob_dev.log.receipts
    bob_dev.log.wait(lambda: bob_dev.log.disconnects > 0, "the connection to close")
    # and the history of the group is closed to him over REST as well
    cid = owner.call("GET", "/api/conversation/list")["list"][0]["conversationId"]
    status, envelope = node.rest("GET", f"/api/message/history?conversationId={cid}",
                                 token=bob.token)
    assert envelope["code"] != 200 and status in (403, 404), envelope
    # carol, still a member, can send and bob hears nothing of it
    carol_dev.stored(topic, {"type": "text", "content": "without bob"})
