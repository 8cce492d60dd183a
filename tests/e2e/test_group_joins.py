"""Join requests and invite links through REST and STOMP (issue 15), both deployments.

Under each join policy; the admins and the applicant told live on
/user/queue/notification; two admins approving at once (two HTTP clients in two
threads) with one place left: one 200, one 4004, never past the limit; an invite
link running out of uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from interop._fullnode import FullNode

from ._actors import Devices, Person, json_of


def _types(dev: Any) -> list[str]:
    return [json_of(m)["type"] for m in dev.on("n")]


def test_apply_approve_reject_under_each_policy_with_racing_admins(
    start_node: Callable[..., FullNode], devices: Devices
) -> None:
    node = start_node(im={"max_group_size": 5})
    owner, a1, a2, u1, u2, u3 = (
        Person(node, n) for n in ("owner", "admin1", "admin2", "user1", "user2", "user3"))
    owner.befriend(a1)
    owner.befriend(a2)
    gid = owner.group_with("club", a1, a2)
    for admin in (a1, a2):
        owner.call("PUT", f"/api/group/{gid}/admin/{admin.id}", {"admin": True})
    a1_dev, u1_dev = devices.device(a1), devices.device(u1)
    for dev in (a1_dev, u1_dev):
        dev.subscribe("/user/queue/notification", "n")
    a1_dev.subscribe(f"/topic/chat/{gid}", "g")

    # invite_only (the default): refused
    assert owner.call("GET", f"/api/group/{gid}")["joinPolicy"] == "invite_only"
    u1.call("POST", f"/api/group/{gid}/apply", {"message": "hi"}, expect=4011)
    owner.call("PUT", f"/api/group/{gid}", {"joinPolicy": "approval"})
    apps = [p.call("POST", f"/api/group/{gid}/apply", {"message": f"I am {p.name}"})
            for p in (u1, u2, u3)]
    assert [a["status"] for a in apps] == [0, 0, 0]
    a1_dev.log.wait(lambda: _types(a1_dev).count("GROUP_APPLICATION") == 3,
                    "three GROUP_APPLICATION notifications")
    page = a2.call("GET", f"/api/group/{gid}/applications?current=1&size=10")
    assert page["total"] == 3 and [r["applicant"]["id"] for r in page["records"]] == [
        u1.id, u2.id, u3.id]
    u2.call("GET", f"/api/group/{gid}/applications", expect=4002)

    a1.call("POST", f"/api/group/{gid}/applications/{apps[0]['id']}/approve")  # 4 of 5
    u1_dev.log.wait(lambda: "APPLICATION_APPROVED" in _types(u1_dev), "APPLICATION_APPROVED")
    # one place left, two admins approve two requests at the same moment
    results: list[tuple[int, dict[str, Any]]] = []
    start = threading.Barrier(2)

    def approve(admin: Person, app: dict[str, Any]) -> None:
        start.wait(5)
        results.append(node.rest(
            "POST", f"/api/group/{gid}/applications/{app['id']}/approve", None, admin.token))

    threads = [threading.Thread(target=approve, args=(admin, app))
               for admin, app in ((a1, apps[1]), (a2, apps[2]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    codes = sorted(envelope["code"] for _, envelope in results)
    assert codes == [200, 4004], results
    assert sorted(status for status, _ in results) == [200, 409]
    info = owner.call("GET", f"/api/group/{gid}")
    assert info["memberCount"] == 5 == info["maxMembers"]
    assert len(owner.call("GET", f"/api/group/{gid}/members")["records"]) == 5
    # the one left over is rejected; rejecting again answers the same
    [left] = owner.call("GET", f"/api/group/{gid}/applications")["records"]
    rejected = owner.call("POST", f"/api/group/{gid}/applications/{left['id']}/reject")
    assert rejected["status"] == 2
    owner.call("POST", f"/api/group/{gid}/applications/{left['id']}/approve", expect=4010)

    # the joins arrived live on the group topic as system messages
    events = [json_of(m)["extra"] for m in a1_dev.wait_on("g", 3, "the policy and two joins")]
    assert [e["event"] for e in events] == ["join_policy_changed", "member_joined",
                                            "member_joined"]
    assert [e["via"] for e in events[1:]] == ["application"] * 2

    # open: apply joins at once (after a member leaves, so there is room)
    owner.call("PUT", f"/api/group/{gid}", {"joinPolicy": "open"})
    u1.call("POST", f"/api/group/{gid}/quit")
    outsider = Person(node, "walker")
    walked_in = outsider.call("POST", f"/api/group/{gid}/apply", {})
    assert walked_in["status"] == 1
    assert gid in [g["id"] for g in outsider.call("GET", "/api/group/my")]
    outsider.call("POST", f"/api/group/{gid}/apply", {}, expect=4009)


def test_invite_link_uses_and_limits(node: FullNode, devices: Devices) -> None:
    owner, bob, carol, dave = (Person(node, n) for n in ("owner", "bob", "carol", "dave"))
    gid = owner.group_with("linked")
    link = owner.call("POST", f"/api/group/{gid}/invite-link",
                      {"expiresInMinutes": 60, "maxUses": 2})
    assert link["maxUses"] == 2 and link["expiresAt"] > 0
    bob.call("POST", f"/api/group/{gid}/invite-link", {}, expect=4002)
    owner.call("POST", f"/api/group/{gid}/invite-link", {"expiresInMinutes": 0}, expect=9001)
    for person in (bob, carol):
        group = person.call("POST", "/api/group/join-by-link", {"code": link["code"]})
        assert group["id"] == gid
    status, envelope = node.rest("POST", "/api/group/join-by-link", {"code": link["code"]},
                                 dave.token)
    assert (status, envelope["code"]) == (410, 4012)
    dave.call("POST", "/api/group/join-by-link", {"code": "nope"}, expect=4012)
    assert owner.call("GET", f"/api/group/{gid}")["memberCount"] == 3
