"""Presence events to friends (issue 16): online when the first device connects, offline
with the last-seen time when the last one is gone, nothing for a second device or a quick
reconnect (also onto the other node when Redis bridges two), nothing for strangers, and
nothing at all for a user who hides their presence. stomp.py devices, REST as a front end
calls it; waits are on events and on the node's counters, not on sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from interop._fullnode import FullNode

from ._actors import Device, Devices, Person
from ._live import at, metric, two_nodes

NOTIFICATION = "/user/queue/notification"


def _presence(dev: Device) -> list[dict[str, Any]]:
    return dev.events("n", "presence")


def _wait_counter(nodes: tuple[FullNode, FullNode], name: str, value: float) -> None:
    deadline = time.monotonic() + 10
    unique = {id(n): n for n in nodes}.values()
    while sum(metric(n, name) for n in unique) < value:
        assert time.monotonic() < deadline, f"{name} never reached {value}"
        time.sleep(0.05)


def test_presence_reaches_friends_once_per_online_period(
    start_node: Callable[..., FullNode], devices: Devices, node_backend: dict[str, Any]
) -> None:
    nodes = two_nodes(start_node, bool(node_backend["redis"]["url"]),
                      live={"presence_debounce_ms": 800})
    one, two = nodes
    alice, bob, carol = Person(one, "alice"), Person(one, "bob"), Person(one, "carol")
    alice.befriend(bob)
    bob_dev = devices.device(at(bob, two), label="bob")
    carol_dev = devices.device(carol, label="carol")
    for dev in (bob_dev, carol_dev):
        dev.subscribe(NOTIFICATION, "n")
    assert bob.call("GET", f"/api/user/online?ids={alice.id}") == {str(alice.id): False}

    phone = devices.device(alice, label="alice-phone")
    bob_dev.log.wait(lambda: len(_presence(bob_dev)) == 1, "alice online")
    [online] = _presence(bob_dev)
    assert online == {"event": "presence", "userId": alice.id, "state": "online",
                      "online": True, "lastSeen": None, "at": online["at"]}
    [msg] = [m for m in bob_dev.on("n") if m.headers.get("x-event") == "presence"]
    assert msg.headers["content-type"] == "application/json"
    assert bob.call("GET", f"/api/user/online?ids={alice.id}") == {str(alice.id): True}

    # a second device, then the first one leaving: friends hear nothing
    laptop = devices.device(at(alice, two), token=alice.login()["token"], label="alice-laptop")
    _wait_counter(nodes, "presence_suppressed", 1)
    phone.close()
    # the laptop leaves and alice is back within the debounce, on the other node
    laptop.close()
    again = devices.device(alice, label="alice-again")
    # the phone's and the laptop's ends and the reconnect each told nobody
    _wait_counter(nodes, "presence_suppressed", 3)
    time.sleep(1.2)  # past the debounce of the laptop's close: still nothing sent
    assert [e["state"] for e in _presence(bob_dev)] == ["online"]

    # gone for real: "offline" with the last-seen time, after the debounce
    before = int(time.time() * 1000)
    again.close()
    bob_dev.log.wait(lambda: len(_presence(bob_dev)) == 2, "alice offline")
    offline = _presence(bob_dev)[1]
    assert offline["state"] == "offline" and offline["online"] is False
    assert offline["userId"] == alice.id and offline["lastSeen"] >= before
    assert bob.call("GET", f"/api/user/last-seen?ids={alice.id}") == {
        str(alice.id): offline["lastSeen"]}
    assert carol.call("GET", f"/api/user/last-seen?ids={alice.id}") == {str(alice.id): None}
    assert bob.call("GET", f"/api/user/online?ids={alice.id}") == {str(alice.id): False}
    # carol is no friend of alice's: she never heard anything
    assert _presence(carol_dev) == []
    assert metric(one, "presence_online_sent") + (
        metric(two, "presence_online_sent") if two is not one else 0) >= 1


def test_hidden_presence_sends_nothing_and_shows_offline(
    node: FullNode, devices: Devices
) -> None:
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    assert alice.call("GET", "/api/user/presence") == {"hidePresence": False}
    assert alice.call("PUT", "/api/user/presence", {"hidePresence": True}) == {
        "hidePresence": True}
    bob_dev = devices.device(bob, label="bob")
    bob_dev.subscribe(NOTIFICATION, "n")
    suppressed = metric(node, "presence_suppressed")
    alice_dev = devices.device(alice, label="alice")
    _wait_counter((node, node), "presence_suppressed", suppressed + 1)
    assert _presence(bob_dev) == []
    assert bob.call("GET", f"/api/user/online?ids={alice.id}") == {str(alice.id): False}
    assert alice.call("GET", f"/api/user/online?ids={alice.id}") == {str(alice.id): True}
    alice_dev.close()
    _wait_counter((node, node), "presence_suppressed", suppressed + 2)
    assert _presence(bob_dev) == []
    assert bob.call("GET", f"/api/user/last-seen?ids={alice.id}") == {str(alice.id): None}
    # shown again: the next connection is announced
    alice.call("PUT", "/api/user/presence", {"hidePresence": "false"})
    devices.device(alice, label="alice-again")
    bob_dev.log.wait(lambda: len(_presence(bob_dev)) == 1, "alice online")
    assert _presence(bob_dev)[0]["state"] == "online"
