"""Group membership changes seen live over STOMP (issue 4): an invitation accepted opens
the group topic, quitting closes it, and after a dissolve the members are told and
their SENDs are refused on /user/queue/errors. stomp.py over TCP, both deployments.
"""

from __future__ import annotations

import time

from interop._fullnode import FullNode

from ._actors import Devices, Person, json_of

GROUP_NOT_FOUND = 4001
NOT_GROUP_MEMBER = 4002


def test_invite_join_quit_and_dissolve_over_stomp(node: FullNode, devices: Devices) -> None:
    owner, bob, stranger = Person(node, "owner"), Person(node, "bob"), Person(node, "stranger")
    owner.befriend(bob)
    gid = owner.group_with("club", bob)
    topic = f"/topic/chat/{gid}"
    owner_dev, bob_dev, stranger_dev = (devices.device(p) for p in (owner, bob, stranger))
    for dev in (owner_dev, bob_dev, stranger_dev):
        dev.subscribe("/user/queue/notification", "n")
        dev.subscribe("/user/queue/errors", "errors")
    bob_dev.subscribe(topic, "g")

    # a non-friend is invited, not added: pushed an invitation, and accepts it
    owner.call("POST", f"/api/group/{gid}/invite", {"userIds": [stranger.id]})
    [invitation] = stranger_dev.wait_on("n", 1, "GROUP_INVITATION")
    assert json_of(invitation)["type"] == "GROUP_INVITATION"
    [pending] = stranger.call("GET", "/api/group/invitation")
    stranger.call("POST", f"/api/group/invitation/{pending['id']}/accept")
    stranger_dev.subscribe(topic, "g", **{"x-since-seq": "0"})
    hello = stranger_dev.stored(topic, {"type": "text", "content": "hello, I joined"})
    assert hello["seq"] == "2"  # seq 1: the system message of the join
    for dev in (bob_dev, stranger_dev):
        joined, got = dev.wait_on("g", 2, "the join and the newcomer's message")
        assert json_of(joined)["type"] == "system" and joined.headers["seq"] == "1"
        assert json_of(joined)["extra"]["event"] == "member_joined"
        assert json_of(got)["fromUserId"] == stranger.id

    # quitting ends the quitter's subscription; the others keep theirs
    stranger.call("POST", f"/api/group/{gid}/quit")
    owner_dev.stored(topic, {"type": "text", "content": "bye stranger"})
    *_, left, bye = bob_dev.wait_on("g", 4, "the quit and the message after it")
    assert json_of(left)["extra"] == {
        "event": "member_left", "operatorId": stranger.id, "userIds": [stranger.id]}
    assert json_of(bye)["content"] == "bye stranger"
    time.sleep(0.2)
    # the quitter saw their own departure, then nothing more
    assert [json_of(m)["type"] for m in stranger_dev.on("g")] == ["system", "text", "system"]
    refused = stranger_dev.send_json(topic, {"type": "text", "content": "still here?"})
    [refusal] = stranger_dev.wait_on("errors", 1, "refusal after quitting")
    assert refusal.headers["receipt-id"] == refused
    assert refusal.headers["code"] == str(NOT_GROUP_MEMBER)

    # dissolving: members are told, and the topic refuses their SENDs (connections stay)
    owner.call("DELETE", f"/api/group/{gid}")
    bob_dev.log.wait(
        lambda: any(json_of(m)["type"] == "GROUP_DISSOLVED" for m in bob_dev.on("n")),
        "GROUP_DISSOLVED at bob")
    refused = bob_dev.send_json(topic, {"type": "text", "content": "anyone?"})
    [refusal] = bob_dev.wait_on("errors", 1, "refusal in a dissolved group")
    assert refusal.headers["receipt-id"] == refused
    assert refusal.headers["code"] in (str(GROUP_NOT_FOUND), str(NOT_GROUP_MEMBER))
    time.sleep(0.2)
    assert len(bob_dev.on("g")) == 4  # nothing was delivered after the dissolve
    assert bob_dev.connected and owner_dev.connected
    assert gid not in [g["id"] for g in bob.call("GET", "/api/group/my")]
