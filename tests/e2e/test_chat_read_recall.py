"""Unread counts and read markers across two devices of one user, and recall inside and
outside the window (issue 5); stomp.py over TCP, REST as the front end calls it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from interop._fullnode import FullNode

from ._actors import Devices, Person, json_of

PRIVATE = "/app/chat/private"
RECALL_WINDOW_PASSED = 3004


def _unread(person: Person) -> dict[int, int]:
    return {c["conversationId"]: c["unreadCount"]
            for c in person.call("GET", "/api/conversation/list")["list"]}


def test_read_marker_reaches_the_other_device_and_the_peer(
    node: FullNode, devices: Devices
) -> None:
    alice, bob, carol = Person(node, "alice"), Person(node, "bob"), Person(node, "carol")
    alice.befriend(bob)
    alice.befriend(carol)
    gid = alice.group_with("g", bob, carol)
    alice_dev = devices.device(alice)
    alice_dev.subscribe("/user/queue/chat", "q")
    phone = devices.device(bob, label="bob-phone")
    laptop = devices.device(bob, token=bob.login()["token"], label="bob-laptop")
    for dev in (phone, laptop):
        dev.subscribe("/user/queue/chat", "q")

    sent = [alice_dev.stored(PRIVATE, {"toUserId": bob.id, "type": "text", "content": f"n{i}"})
            for i in range(4)]
    group = alice_dev.stored(f"/topic/chat/{gid}", {"type": "text", "content": "to all"})
    private_cid, group_cid = int(sent[0]["conversation-id"]), int(group["conversation-id"])
    for dev in (phone, laptop):
        dev.wait_on("q", 4, "the private messages")
    assert _unread(bob) == {private_cid: 4, group_cid: 1}
    assert bob.call("GET", "/api/conversation/unread-total") == 5

    # bob reads up to seq 3 on his phone (the app calls REST)
    marked = bob.call("POST", "/api/message/read", {"conversationId": private_cid, "seq": 3})
    assert marked == {"conversationId": private_cid, "readSeq": 3, "unreadCount": 1}
    want = {"event": "read", "conversationId": private_cid, "userId": bob.id, "seq": 3}
    for dev in (laptop, phone, alice_dev):  # bob's other device, and the peer ("seen")
        dev.log.wait(lambda dev=dev: bool(dev.events("q", "read")), f"read event at {dev.label}")
        [event] = dev.events("q", "read")
        assert event == want, (dev.label, event)
    [read_msg] = [m for m in laptop.on("q") if m.headers.get("x-event") == "read"]
    assert read_msg.headers["conversation-id"] == str(private_cid)
    assert _unread(bob) == {private_cid: 1, group_cid: 1}
    assert bob.call("GET", "/api/conversation/unread-total") == 2

    # a stale marker from the other device never moves the cursor back, and sends no event
    stale = bob.call("POST", "/api/message/read", {"conversationId": private_cid, "seq": 1})
    assert stale["readSeq"] == 3 and stale["unreadCount"] == 1
    # reading past the end is clamped to the last message
    done = bob.call("POST", "/api/message/read", {"conversationId": private_cid, "seq": 999})
    assert done == {"conversationId": private_cid, "readSeq": 4, "unreadCount": 0}
    laptop.log.wait(lambda: len(laptop.events("q", "read")) == 2, "second read event")
    time.sleep(0.2)
    assert [e["seq"] for e in laptop.events("q", "read")] == [3, 4]  # none for the stale one
    bob.call("POST", "/api/message/read", {"conversationId": group_cid, "seq": 1})
    laptop.log.wait(lambda: len(laptop.events("q", "read")) == 3, "the group read event")
    assert laptop.events("q", "read")[-1] == {"event": "read", "conversationId": group_cid,
                                              "userId": bob.id, "seq": 1}
    assert _unread(bob) == {private_cid: 0, group_cid: 0}
    # a group read marker goes to the reader's own devices only, not to the other members
    time.sleep(0.2)
    assert {e["conversationId"] for e in alice_dev.events("q", "read")} == {private_cid}
    assert bob.call("GET", "/api/conversation/unread-total") == 0
    # a reply from bob's laptop leaves alice's unread at one, and bob's at zero
    bob_reply = laptop.stored(PRIVATE, {"toUserId": alice.id, "type": "text", "content": "ok"})
    assert bob_reply["seq"] == "5"
    assert _unread(bob)[private_cid] == 0
    assert _unread(alice)[private_cid] == 1


def test_recall_inside_the_window(node: FullNode, devices: Devices) -> None:
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    bob_dev = devices.device(bob)
    bob_dev.subscribe("/user/queue/chat", "q")
    alice_dev = devices.device(alice)
    alice_dev.subscribe("/user/queue/chat", "q")
    receipt = alice_dev.stored(PRIVATE, {"toUserId": bob.id, "type": "text", "content": "oops"})
    keep = alice_dev.stored(PRIVATE, {"toUserId": bob.id, "type": "text", "content": "kept"})
    mid, cid = int(receipt["message-id"]), int(receipt["conversation-id"])
    bob_dev.wait_on("q", 2, "both messages")

    bob.call("POST", f"/api/message/{mid}/recall", expect=9003)  # not the sender's
    recalled = alice.call("POST", f"/api/message/{mid}/recall")
    assert recalled["id"] == mid and recalled["status"] == 1 and recalled["content"] == ""

    want = {"event": "recall", "messageId": mid, "conversationId": cid, "seq": 1,
            "operatorId": alice.id}
    for dev in (bob_dev, alice_dev):
        dev.log.wait(lambda dev=dev: bool(dev.events("q", "recall")), f"recall at {dev.label}")
        assert dev.events("q", "recall") == [want]
    history = bob.history(cid)
    assert [(m["id"], m["status"], m["content"], m["extra"]) for m in history] == [
        (mid, 1, "", None), (int(keep["message-id"]), 0, "kept", None)]
    # a replay after the recall shows the message recalled as well
    again = devices.device(bob, label="bob-again")
    again.subscribe("/user/queue/chat", "q", **{"x-since-seq": "0"})
    replayed = again.settled("q", 2, "replay of both")
    assert [(json_of(m)["status"], json_of(m)["content"]) for m in replayed] == [
        (1, ""), (0, "kept")]
    # recalling twice is a no-op (no second event)
    alice.call("POST", f"/api/message/{mid}/recall")
    time.sleep(0.2)
    assert len(bob_dev.events("q", "recall")) == 1


def test_recall_outside_the_window_is_refused(
    start_node: Callable[..., FullNode], devices: Devices
) -> None:
    node = start_node(im={"recall_window_seconds": 1})
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    bob_dev = devices.device(bob)
    bob_dev.subscribe("/user/queue/chat", "q")
    alice_dev = devices.device(alice)
    receipt = alice_dev.stored(PRIVATE, {"toUserId": bob.id, "type": "text", "content": "late"})
    mid, cid = receipt["message-id"], receipt["conversation-id"]
    time.sleep(1.2)
    alice.call("POST", f"/api/message/{mid}/recall", expect=RECALL_WINDOW_PASSED)
    [stored] = bob.history(cid)
    assert (stored["status"], stored["content"]) == (0, "late")
    time.sleep(0.1)
    assert bob_dev.events("q", "recall") == []
