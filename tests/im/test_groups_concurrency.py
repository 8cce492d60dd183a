"""Concurrent joins never exceed the group's maximum (locked group row + member_count)."""

from __future__ import annotations

import asyncio

from _social import build, make_users

from stompim.im.errors import ImError


async def test_parallel_accepts_never_exceed_the_maximum(db) -> None:
    s = build(db, max_group_size=5)
    owner, *invitees = await make_users(db, 13)
    g = await s.groups.create(owner.id, name="race")
    invs = await s.groups.invitations.invite(owner.id, g["id"], [u.id for u in invitees])
    assert len(invs) == 12
    results = await asyncio.gather(
        *(s.groups.invitations.accept(i["inviteeId"], i["id"]) for i in invs),
        return_exceptions=True,
    )
    ok = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) == 4
    assert all(isinstance(e, ImError) and e.code == 4004 for e in refused), refused
    group = await s.groups.get(g["id"])
    assert group is not None and group.member_count == 5
    assert await s.groups.repo.count_members(g["id"]) == 5
    assert len(s.publisher.types_for(owner.id)) == 4  # INVITATION_ACCEPTED per joiner


async def test_parallel_double_accept_of_one_invitation(db) -> None:
    s = build(db)
    owner, u = await make_users(db, 2)
    g = await s.groups.create(owner.id, name="twice")
    (inv,) = await s.groups.invitations.invite(owner.id, g["id"], [u.id])
    results = await asyncio.gather(
        *(s.groups.invitations.accept(u.id, inv["id"]) for _ in range(5))
    )
    assert all(r["status"] == 1 for r in results)
    assert (await s.groups.get(g["id"])).member_count == 2  # type: ignore[union-attr]
    assert s.publisher.types_for(owner.id) == ["INVITATION_ACCEPTED"]
