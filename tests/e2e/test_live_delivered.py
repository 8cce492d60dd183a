"""Delivered state of private messages (issue 16): a device of the recipient ACKs (STOMP
client-individual ack) or reports over REST, or the recipient reads; the sender's devices
hear a `delivered` event (across nodes with Redis) and history carries `delivered` and
`read`. Drafts and pins: synced to the user's own devices only, pinned first in the list."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from interop._fullnode import FullNode

from ._actors import Device, Devices, Person
from ._live import at, two_nodes

PRIVATE = "/app/chat/private"


def _events(dev: Device, sub: str, name: str) -> list[dict[str, Any]]:
    return dev.events(sub, name)


def _wait(dev: Device, sub: str, name: str, count: int) -> list[dict[str, Any]]:
    dev.log.wait(lambda: len(_events(dev, sub, name)) >= count, f"{name} at {dev.label}")
    return _events(dev, sub, name)


def _marks(person: Person, cid: int) -> list[tuple[int, bool, bool]]:
    return [(m["seq"], m["delivered"], m["read"]) for m in person.history(cid)]


def test_delivered_by_ack_report_and_read(
    start_node: Callable[..., FullNode], devices: Devices, node_backend: dict[str, Any]
) -> None:
    one, two = two_nodes(start_node, bool(node_backend["redis"]["url"]))
    alice, bob = Person(one, "alice"), Person(one, "bob")
    alice.befriend(bob)
    a_phone = devices.device(alice, label="alice-phone")
    a_laptop = devices.device(at(alice, two), token=alice.login()["token"], label="alice-laptop")
    for dev in (a_phone, a_laptop):
        dev.subscribe("/user/queue/chat", "q")
    sent = [a_phone.stored(PRIVATE, {"toUserId": bob.id, "content": f"m{i}"}) for i in range(3)]
    cid = int(sent[0]["conversation-id"])
    assert _marks(alice, cid) == [(1, False, False), (2, False, False), (3, False, False)]

    # bob's phone (on the other node) catches up with client-individual acks
    b_phone = devices.device(at(bob, two), label="bob-phone")
    receipt = b_phone.next_receipt()
    b_phone.conn.subscribe("/user/queue/chat", id="q", ack="client-individual",
                           receipt=receipt, headers={"x-since-seq": "0"})
    b_phone.log.wait_receipt(receipt)
    got = b_phone.wait_on("q", 3, "the replay")
    second = got[1]
    b_phone.conn.ack(second.headers["ack"])
    for dev in (a_phone, a_laptop):
        [event] = _wait(dev, "q", "delivered", 1)
        assert event == {"event": "delivered", "conversationId": cid, "userId": bob.id,
                         "seq": 2}, dev.label
    assert _marks(alice, cid) == [(1, True, False), (2, True, False), (3, False, False)]
    # a REST report (an auto-ack client) moves it on; an older one does nothing
    assert bob.call("POST", "/api/message/delivered", {"conversationId": cid, "seq": 3}) == {
        "conversationId": cid, "deliveredSeq": 3}
    assert bob.call("POST", "/api/message/delivered", {"conversationId": cid, "seq": 1}) == {
        "conversationId": cid, "deliveredSeq": None}
    _wait(a_laptop, "q", "delivered", 2)
    # reading implies delivered
    bob.call("POST", "/api/message/read", {"conversationId": cid, "seq": 2})
    assert _marks(alice, cid) == [(1, True, True), (2, True, True), (3, True, False)]
    # bob acking his own message tells nobody anything; his reply counts as read by him
    b_reply = b_phone.stored(PRIVATE, {"toUserId": alice.id, "content": "hi"})
    b_phone.wait_on("q", 4, "bob's own copy")
    b_phone.conn.ack(b_phone.on("q")[3].headers["ack"])
    a_phone.wait_on("q", 4, "bob's reply")
    time.sleep(0.3)
    assert [e["seq"] for e in _events(a_laptop, "q", "delivered")] == [2, 3]
    assert int(b_reply["seq"]) == 4
    assert _marks(alice, cid) == [(1, True, True), (2, True, True), (3, True, True),
                                  (4, False, False)]
    # delivered is only ever told to the sender side, never to a stranger's queue
    carol = Person(one, "carol")
    carol.call("POST", "/api/message/delivered", {"conversationId": cid, "seq": 3}, expect=3005)


def test_drafts_and_pins_sync_to_own_devices(
    start_node: Callable[..., FullNode], devices: Devices, node_backend: dict[str, Any]
) -> None:
    one, two = two_nodes(start_node, bool(node_backend["redis"]["url"]))
    alice, bob, carol = Person(one, "alice"), Person(one, "bob"), Person(one, "carol")
    alice.befriend(bob)
    alice.befriend(carol)
    a_dev = devices.device(alice)
    cids = []
    for peer in (bob, carol):
        cids.append(int(a_dev.stored(PRIVATE, {"toUserId": peer.id, "content": "x"})[
            "conversation-id"]))
    with_bob, with_carol = cids
    laptop = devices.device(at(alice, two), token=alice.login()["token"], label="alice-laptop")
    laptop.subscribe("/user/queue/chat", "q")
    b_dev = devices.device(bob)
    b_dev.subscribe("/user/queue/chat", "q")

    draft = alice.call("PUT", f"/api/conversation/{with_bob}/draft", {"content": "half a tho"})
    assert draft["content"] == "half a tho" and draft["conversationId"] == with_bob
    [event] = _wait(laptop, "q", "draft", 1)
    assert event == {"event": "draft", **draft}
    assert alice.call("GET", "/api/conversation/drafts") == [draft]

    # carol's conversation is the newest; pinning bob's puts it first
    listed = alice.call("GET", "/api/conversation/list")["list"]
    assert [c["conversationId"] for c in listed] == [with_carol, with_bob]
    pinned = alice.call("PUT", f"/api/conversation/{with_bob}/pin", {"pinned": True})
    assert pinned["pinned"] is True and pinned["pinnedAt"] > 0
    _wait(laptop, "q", "pin", 1)
    listed = alice.call("GET", "/api/conversation/list")["list"]
    assert [(c["conversationId"], c["pinned"]) for c in listed] == [
        (with_bob, True), (with_carol, False)]
    assert listed[0]["draft"] == {"content": "half a tho", "updatedAt": draft["updatedAt"]}
    assert listed[1]["draft"] is None
    # paged: pinned ones all on the first page (beside `limit` others), nowhere else
    first = alice.call("GET", "/api/conversation/list?limit=1")
    assert [c["conversationId"] for c in first["list"]] == [with_bob, with_carol]
    assert first["hasMore"] is True
    second = alice.call("GET", f"/api/conversation/list?limit=1&cursor={first['nextCursor']}")
    assert second["list"] == []
    assert alice.call("GET", "/api/conversation/drafts")[0]["conversationId"] == with_bob
    # bob sees nothing of alice's draft or pin
    assert [c["pinned"] for c in bob.call("GET", "/api/conversation/list")["list"]] == [False]
    assert bob.call("GET", "/api/conversation/drafts") == []
    time.sleep(0.2)
    assert _events(b_dev, "q", "draft") == [] and _events(b_dev, "q", "pin") == []
    # clearing and unpinning
    alice.call("PUT", f"/api/conversation/{with_bob}/draft", {"content": ""})
    alice.call("PUT", f"/api/conversation/{with_bob}/pin", {"pinned": False})
    assert alice.call("GET", "/api/conversation/drafts") == []
    assert [c["conversationId"] for c in alice.call("GET", "/api/conversation/list")["list"]
            ] == [with_carol, with_bob]
    alice.call("PUT", f"/api/conversation/{with_bob}/draft", {"content": "x" * 5001},
               expect=3003)
    carol.call("PUT", f"/api/conversation/{with_bob}/pin", {"pinned": True}, expect=3005)
