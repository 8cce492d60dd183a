"""Timeline events across two nodes (issue 16): MariaDB + Redis, each user with one
device on each node. Edits, reactions and pins made over one node's REST reach the
members' devices on both nodes through the cluster bridge; a delete-for-me reaches the
caller's devices on both nodes and nobody else's; a non-member hears nothing.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import pytest
from interop._fullnode import FullNode

from ._actors import Device, Devices, Person

GROUP = "/app/chat/group"


def on(person: Person, node: FullNode) -> Person:
    """The same account, its REST calls and devices on another node."""
    twin = copy.copy(person)
    twin.node = node
    return twin


@pytest.mark.parametrize("node_backend", ["mysql+redis"], indirect=True)
def test_events_cross_nodes_to_members_only(
    start_node: Callable[..., FullNode], devices: Devices
) -> None:
    node_a = start_node(server={"node_id": "timeline-a"})
    node_b = start_node(server={"node_id": "timeline-b"})
    alice, bob, carol, dave = (Person(node_a, n) for n in ("alice", "bob", "carol", "dave"))
    alice.befriend(bob)
    alice.befriend(carol)
    gid = alice.group_with("g", bob, carol)
    topic = f"/topic/chat/{gid}"
    member_devices: list[Device] = []
    for person in (alice, bob, carol):
        for node, label in ((node_a, "a"), (node_b, "b")):
            dev = devices.device(on(person, node), token=person.login()["token"],
                                 label=f"{person.name}-{label}")
            dev.subscribe(topic, "g")
            dev.subscribe("/user/queue/chat", "q")
            member_devices.append(dev)
    outsider = devices.device(on(dave, node_b))
    outsider.subscribe("/user/queue/chat", "q")
    outsider.subscribe(f"/topic/chat-{gid}", "t")

    sent = member_devices[0].stored(GROUP, {"groupId": gid, "content": "v1"})
    mid = int(sent["message-id"])
    for dev in member_devices:
        dev.wait_on("g", 1, f"the message at {dev.label}")
    on(bob, node_b).call("POST", f"/api/message/{mid}/reactions", {"emoji": "+1"})
    on(alice, node_a).call("POST", f"/api/message/{mid}/edit", {"content": "v2"})
    on(alice, node_b).call("POST", f"/api/message/{mid}/pin")
    for dev in member_devices:
        for event in ("reaction", "edit", "pin"):
            dev.log.wait(lambda dev=dev, event=event: bool(dev.events("g", event)),
                         f"{event} at {dev.label}", 10.0)
        assert dev.events("g", "edit")[0]["content"] == "v2"

    on(carol, node_b).call("POST", "/api/message/delete", {"messageIds": [mid]})
    carols = [d for d in member_devices if d.person.name == "carol"]
    for dev in carols:
        dev.log.wait(lambda dev=dev: bool(dev.events("q", "delete")), f"delete at {dev.label}",
                     10.0)
    time.sleep(0.3)
    assert all(dev.events("q", "delete") == [] for dev in member_devices if dev not in carols)
    assert outsider.log.messages == [], "dave heard the group"
