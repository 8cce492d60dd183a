"""Join requests and invite links (stompim.im.applications), on SQLite and MariaDB.

Each join policy; approve / reject with notifications to the admins and the applicant;
the size limit under two admins approving at once (concurrent transactions on
MariaDB's pool: never past the limit, the later approval gets 4004); invite links
running out of uses and expiring on the injected clock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _social import Social, befriend, build, make_users

from stompim.im.errors import ImError
from stompim.store.users import UserRecord


async def _code(coro) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(ImError) as info:
        await coro
    return info.value.code


async def _group(
    s: Social, owner: UserRecord, admins: list[UserRecord], policy: str
) -> int:
    for a in admins:
        await befriend(s, owner.id, a.id)
    gid = int((await s.groups.create(owner.id, name="J", member_ids=[a.id for a in admins]))["id"])
    for a in admins:
        await s.groups.set_admin(owner.id, gid, a.id, True)
    await s.groups.update(owner.id, gid, {"joinPolicy": policy})
    return gid


def _events(s: Social, gid: int) -> list[dict[str, Any]]:
    dest = f"/topic/chat/{gid}"
    return [b["extra"] for d, b, _ in s.publisher.published
            if d == dest and b["type"] == "system" and b["extra"]["event"] == "member_joined"]


async def test_each_join_policy(db) -> None:
    s = build(db, timeline=True)
    owner, admin, u1, u2 = await make_users(db, 4)
    gid = await _group(s, owner, [admin], "invite_only")
    assert (await s.groups.info(owner.id, gid))["joinPolicy"] == "invite_only"
    assert await _code(s.groups.joins.apply(u1.id, gid, "let me in")) == 4011
    assert await _code(s.groups.joins.apply(owner.id, gid)) == 4009
    assert await _code(s.groups.update(owner.id, gid, {"joinPolicy": "maybe"})) == 9001
    # approval: pending, the owner and admins are told; asking again renews the request
    await s.groups.update(owner.id, gid, {"joinPolicy": "approval"})
    first = await s.groups.joins.apply(u1.id, gid, "hi")
    again = await s.groups.joins.apply(u1.id, gid, "hi again")
    assert first["status"] == 0 and again["id"] == first["id"] and again["message"] == "hi again"
    assert s.publisher.types_for(admin.id).count("GROUP_APPLICATION") == 2
    assert "GROUP_APPLICATION" in s.publisher.types_for(owner.id)
    assert await s.groups.member(gid, u1.id) is None
    page = await s.groups.joins.pending(admin.id, gid)
    assert page.total == 1 and page.records[0]["applicant"]["id"] == u1.id
    assert await _code(s.groups.joins.pending(u2.id, gid)) == 4002
    other = await s.groups.joins.apply(u2.id, gid, "me too")
    # a plain member may not answer; a request of another group is not found
    approved = await s.groups.joins.approve(admin.id, gid, first["id"])
    assert approved["status"] == 1 and approved["handlerId"] == admin.id
    assert await _code(s.groups.joins.approve(u1.id, gid, other["id"])) == 4003
    gid2 = await _group(s, owner, [], "approval")
    assert await _code(s.groups.joins.approve(owner.id, gid2, other["id"])) == 4010
    assert (await s.groups.joins.approve(owner.id, gid, first["id"]))["status"] == 1  # twice
    assert await s.groups.member(gid, u1.id) is not None
    assert s.publisher.types_for(u1.id)[-1] == "APPLICATION_APPROVED"
    rejected = await s.groups.joins.reject(owner.id, gid, other["id"])
    assert rejected["status"] == 2 and s.publisher.types_for(u2.id)[-1] == "APPLICATION_REJECTED"
    assert await _code(s.groups.joins.approve(owner.id, gid, other["id"])) == 4010
    assert await s.groups.member(gid, u2.id) is None
    assert [e["via"] for e in _events(s, gid)] == ["application"]
    # open: joined at once
    await s.groups.update(owner.id, gid, {"joinPolicy": "open"})
    joined = await s.groups.joins.apply(u2.id, gid)
    assert joined["status"] == 1 and await s.groups.member(gid, u2.id) is not None
    assert [e["via"] for e in _events(s, gid)] == ["application", "open"]
    assert (await s.groups.get(gid)).member_count == 4  # type: ignore[union-attr]


async def test_two_admins_approving_at_once_never_pass_the_limit(db) -> None:
    s = build(db, timeline=True, max_group_size=4)
    owner, a1, a2, u1, u2, u3 = await make_users(db, 6)
    gid = await _group(s, owner, [a1, a2], "approval")  # 3 of 4
    apps = [await s.groups.joins.apply(u.id, gid) for u in (u1, u2, u3)]
    # the same request approved by both admins at once: one join
    same = await asyncio.gather(
        s.groups.joins.approve(a1.id, gid, apps[0]["id"]),
        s.groups.joins.approve(a2.id, gid, apps[0]["id"]),
    )
    assert [r["status"] for r in same] == [1, 1]
    group = await s.groups.get(gid)
    assert group is not None and group.member_count == 4
    assert len(_events(s, gid)) == 1
    # full: two different requests approved at once are both refused
    results = await asyncio.gather(
        s.groups.joins.approve(a1.id, gid, apps[1]["id"]),
        s.groups.joins.approve(a2.id, gid, apps[2]["id"]),
        return_exceptions=True,
    )
    assert all(isinstance(r, ImError) and r.code == 4004 for r in results), results
    # one place free, two approvals race for it: exactly one wins
    await s.groups.kick(owner.id, gid, u1.id)
    results = await asyncio.gather(
        s.groups.joins.approve(a1.id, gid, apps[1]["id"]),
        s.groups.joins.approve(a2.id, gid, apps[2]["id"]),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if isinstance(r, ImError)]
    assert len(won) == 1 and len(lost) == 1 and lost[0].code == 4004, results
    group = await s.groups.get(gid)
    assert group is not None and group.member_count == 4
    assert len(await s.groups.member_ids(gid)) == 4
    # the refused one is still pending
    assert (await s.groups.joins.pending(owner.id, gid)).total == 1


async def test_invite_links_expire_and_run_out(db) -> None:
    s = build(db, timeline=True, max_group_size=5)
    owner, member, u1, u2, u3, u4 = await make_users(db, 6)
    gid = await _group(s, owner, [], "invite_only")
    await befriend(s, owner.id, member.id)
    await s.groups.invitations.invite(owner.id, gid, [member.id])
    (inv,) = await s.groups.invitations.pending(member.id)
    await s.groups.invitations.accept(member.id, inv["id"])
    # a plain member may not make links unless the group allows member invites
    assert await _code(s.groups.joins.create_link(member.id, gid)) == 4003
    assert await _code(s.groups.joins.create_link(u1.id, gid)) == 4002
    assert await _code(s.groups.joins.create_link(owner.id, gid, minutes=0)) == 9001
    link = await s.groups.joins.create_link(owner.id, gid, minutes=60, max_uses=2)
    assert link["maxUses"] == 2 and link["uses"] == 0 and len(link["code"]) >= 20
    joined = await s.groups.joins.join_by_link(u1.id, link["code"])  # invite_only: links work
    assert joined["id"] == gid and await s.groups.member(gid, u1.id) is not None
    await s.groups.joins.join_by_link(u1.id, link["code"])  # a member again: no use taken
    await s.groups.joins.join_by_link(u2.id, link["code"])
    assert await _code(s.groups.joins.join_by_link(u3.id, link["code"])) == 4012  # used up
    assert await _code(s.groups.joins.join_by_link(u3.id, "no-such-code")) == 4012
    events = _events(s, gid)
    assert [(e["via"], e["userIds"]) for e in events][-2:] == [("link", [u1.id]), ("link", [u2.id])]
    assert events[-1]["inviterId"] == owner.id
    # expiry on the injected clock
    await s.groups.update(owner.id, gid, {"allowMemberInvite": True})
    timed = await s.groups.joins.create_link(member.id, gid, minutes=10)
    s.clock.now += 10 * 60_000
    assert await _code(s.groups.joins.join_by_link(u3.id, timed["code"])) == 4012
    # full (5 of 5 after one more join): 4004 and the use is not taken
    fresh = await s.groups.joins.create_link(owner.id, gid, minutes=10, max_uses=5)
    await s.groups.joins.join_by_link(u3.id, fresh["code"])
    assert await _code(s.groups.joins.join_by_link(u4.id, fresh["code"])) == 4004
    assert (await s.groups.get(gid)).member_count == 5  # type: ignore[union-attr]
