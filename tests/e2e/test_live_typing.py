"""Typing indicators (issue 16) with stomp.py devices: two devices per user, the peer's
devices on another node when Redis bridges two nodes; who hears what, the server's own
"stop" on expiry, and silent drops for strangers (counted in /metrics, nothing sent)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from interop._fullnode import FullNode

from ._actors import Device, Devices, Person, json_of
from ._live import at, metric, two_nodes

PRIVATE = "/app/chat/private"
TYPING = "/app/chat/typing"


def _typing(dev: Device, sub: str) -> list[dict[str, Any]]:
    return dev.events(sub, "typing")


def _wait_typing(dev: Device, sub: str, count: int, what: str) -> list[dict[str, Any]]:
    dev.log.wait(lambda: len(_typing(dev, sub)) >= count, f"{what} at {dev.label}", 5.0)
    return _typing(dev, sub)


def _answered(dev: Device, body: dict[str, Any]) -> dict[str, str]:
    """SEND a typing signal and wait for its RECEIPT: a plain one, never a refusal."""
    got = dev.receipt(dev.send_json(TYPING, body))
    assert "x-error-code" not in got, got
    return got


def test_typing_reaches_the_peer_and_group_members_only(
    start_node: Callable[..., FullNode], devices: Devices, node_backend: dict[str, Any]
) -> None:
    one, two = two_nodes(start_node, bool(node_backend["redis"]["url"]),
                         live={"typing_ttl_ms": 800, "typing_min_interval_ms": 0})
    alice, bob, carol = Person(one, "alice"), Person(one, "bob"), Person(one, "carol")
    mallory = Person(one, "mallory")
    alice.befriend(bob)
    alice.befriend(carol)
    gid = alice.group_with("g", bob, carol)

    a_phone = devices.device(alice, label="alice-phone")
    a_laptop = devices.device(at(alice, two), token=alice.login()["token"], label="alice-laptop")
    b_phone = devices.device(bob, label="bob-phone")
    b_laptop = devices.device(at(bob, two), token=bob.login()["token"], label="bob-laptop")
    c_dev = devices.device(at(carol, two), label="carol")
    m_dev = devices.device(mallory, label="mallory")
    for dev in (a_phone, a_laptop, b_phone, b_laptop, c_dev):
        dev.subscribe("/user/queue/chat", "q")
        dev.subscribe(f"/topic/chat/{gid}", "g")
    m_dev.subscribe("/user/queue/chat", "q")
    for name in ("/topic/typing", "/topic/chat.typing", f"/topic/typing/{gid}"):
        m_dev.subscribe(name, name)

    first = a_phone.stored(PRIVATE, {"toUserId": bob.id, "type": "text", "content": "hi"})
    cid = int(first["conversation-id"])
    group_cid = int(a_phone.stored(f"/topic/chat/{gid}", {"type": "text", "content": "all"})[
        "conversation-id"])
    for dev in (b_phone, b_laptop):
        dev.wait_on("q", 1, "the first message")

    # a stranger's signal is answered with a plain RECEIPT and goes nowhere
    _answered(m_dev, {"conversationId": cid, "state": "start"})
    _answered(m_dev, {"conversationId": group_cid, "state": "start"})
    assert metric(one, "typing_dropped_not_member") == 2

    _answered(a_phone, {"conversationId": cid, "state": "start"})
    for dev in (b_phone, b_laptop):
        [event] = _wait_typing(dev, "q", 1, "alice typing")
        assert event == {"event": "typing", "conversationId": cid, "chatType": "private",
                         "userId": alice.id, "state": "start", "ttlMs": 800,
                         "at": event["at"]}, event
    [msg] = [m for m in b_laptop.on("q") if m.headers.get("x-event") == "typing"]
    assert msg.headers["conversation-id"] == str(cid) and "seq" not in msg.headers
    _answered(a_phone, {"conversationId": cid, "state": "stop"})
    for dev in (b_phone, b_laptop):
        events = _wait_typing(dev, "q", 2, "alice stopped")
        assert [(e["userId"], e["state"]) for e in events] == [(alice.id, "start"),
                                                               (alice.id, "stop")]
        assert "reason" not in events[1]

    # group: every member online hears it on the group topic; no "stop" is sent by bob,
    # so the server sends it once the ttl has passed
    _answered(b_laptop, {"conversationId": group_cid, "state": "start"})
    for dev in (a_phone, a_laptop, c_dev, b_phone):
        events = _wait_typing(dev, "g", 2, "bob typing, then expired")
        assert [(e["userId"], e["state"], e.get("reason")) for e in events] == [
            (bob.id, "start", None), (bob.id, "stop", "expired")], (dev.label, events)
        assert events[0]["groupId"] == gid and events[0]["chatType"] == "group"
    assert metric(two, "typing_expired") == 1

    # nothing ever reached the sender's own private queue, carol's, or the stranger
    time.sleep(0.3)
    for dev in (a_phone, a_laptop, c_dev):
        assert _typing(dev, "q") == [], dev.label
    assert [m.body for m in m_dev.log.messages] == []
    # typing was never stored: history holds the two messages only
    assert [m["content"] for m in bob.history(cid)] == ["hi"]
    assert [json_of(m)["content"] for m in b_phone.chat("q")] == ["hi"]


def test_typing_budget_and_refused_bodies(node: FullNode, devices: Devices) -> None:
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    a_dev, b_dev = devices.device(alice), devices.device(bob)
    b_dev.subscribe("/user/queue/chat", "q")
    cid = int(a_dev.stored(PRIVATE, {"toUserId": bob.id, "content": "x"})["conversation-id"])
    b_dev.wait_on("q", 1, "the message")
    # a malformed body is a business refusal (9001), never an ERROR; the connection stays
    bad = a_dev.receipt(a_dev.send_json(TYPING, {"conversationId": cid, "state": "dancing"}))
    assert bad["x-error-code"] == "9001", bad
    # the default budget is 20 signals per 10 s per session; start+stop pairs
    for _ in range(12):
        _answered(a_dev, {"conversationId": cid, "state": "start"})
        _answered(a_dev, {"conversationId": cid, "state": "stop"})
    assert metric(node, "typing_dropped_rate_limited") == 4
    _wait_typing(b_dev, "q", 20, "the signals within the budget")
    time.sleep(0.3)
    assert len(_typing(b_dev, "q")) == 20
    assert a_dev.connected
