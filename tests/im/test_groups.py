"""GroupService and invitations: lifecycle, membership, notifications, live authorization."""

from __future__ import annotations

import pytest
from _social import Social, befriend, build, make_users

from stompim.im.errors import ImError
from stompim.store.users import UserRecord


async def _code(coro) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(ImError) as info:
        await coro
    return info.value.code


async def _group_with(s: Social, owner: UserRecord, members: list[UserRecord]) -> int:
    for m in members:
        await befriend(s, owner.id, m.id)
    g = await s.groups.create(owner.id, name="G", member_ids=[m.id for m in members])
    return int(g["id"])


async def test_create_adds_friends_directly_and_invites_others(db) -> None:
    s = build(db)
    owner, friend, stranger = await make_users(db, 3)
    await befriend(s, owner.id, friend.id)
    g = await s.groups.create(
        owner.id, name="  Team ", avatar="a.png", announcement="hi",
        member_ids=[friend.id, stranger.id, owner.id],
    )
    assert g["name"] == "Team" and g["ownerId"] == owner.id and g["memberCount"] == 2
    assert g["memberIds"] == [owner.id, friend.id] and g["invitedUserIds"] == [stranger.id]
    gid = g["id"]
    members = (await s.groups.members(owner.id, gid)).records
    assert [(m["userId"], m["role"]) for m in members] == [(owner.id, 2), (friend.id, 0)]
    assert members[1]["nickname"] == friend.nickname
    assert await s.groups.member(gid, stranger.id) is None
    (inv,) = await s.groups.invitations.pending(stranger.id)
    assert inv["groupId"] == gid and inv["groupName"] == "Team" and inv["inviter"]["id"] == owner.id
    assert s.publisher.types_for(stranger.id) == ["GROUP_INVITATION"]
    mine = await s.groups.my_groups(friend.id)
    assert [(x["id"], x["myRole"]) for x in mine] == [(gid, 0)]
    info = await s.groups.info(owner.id, gid)
    assert info["myRole"] == 2 and info["announcement"] == "hi" and info["avatar"] == "a.png"
    assert await s.groups.groups_of(friend.id) == [gid]
    assert await s.groups.member_ids(gid) == sorted([owner.id, friend.id])
    assert await _code(s.groups.create(owner.id, name="   ")) == 9001


async def test_create_with_whitelist_pulls_whitelisted_friends(db) -> None:
    s = build(db)
    owner, w1, w2, other = await make_users(db, 4)
    await befriend(s, owner.id, w1.id)
    await befriend(s, owner.id, w2.id)
    assert await _code(s.whitelist.add(owner.id, other.id)) == 2003  # only friends
    assert await _code(s.whitelist.add(owner.id, owner.id)) == 2004
    await s.whitelist.add(owner.id, w1.id)
    await s.whitelist.add(owner.id, w2.id)
    await s.whitelist.add(owner.id, w2.id)  # idempotent
    assert [e["userId"] for e in await s.whitelist.entries(owner.id)] == [w1.id, w2.id]
    await s.friends.delete_friend(owner.id, w2.id)  # no longer a friend: skipped
    g = await s.groups.create(owner.id, name="W", use_whitelist=True)
    assert g["memberIds"] == [owner.id, w1.id] and g["invitedUserIds"] == []
    g2 = await s.groups.create(owner.id, name="plain")
    assert g2["memberIds"] == [owner.id]
    await s.whitelist.remove(owner.id, w1.id)
    assert [e["userId"] for e in await s.whitelist.entries(owner.id)] == [w2.id]


async def test_invitation_accept_reject_expiry(db) -> None:
    s = build(db, ttl_days=7)
    owner, u1, u2, u3 = await make_users(db, 4)
    g = await s.groups.create(owner.id, name="G")
    gid = g["id"]
    invs = await s.groups.invitations.invite(owner.id, gid, [u1.id, u2.id, u3.id])
    by_user = {i["inviteeId"]: i["id"] for i in invs}
    out = await s.groups.invitations.accept(u1.id, by_user[u1.id])
    assert out["status"] == 1
    assert (await s.groups.member(gid, u1.id)) is not None
    assert (await s.groups.get(gid)).member_count == 2  # type: ignore[union-attr]
    again = await s.groups.invitations.accept(u1.id, by_user[u1.id])  # harmless
    assert again["status"] == 1
    assert (await s.groups.get(gid)).member_count == 2  # type: ignore[union-attr]
    assert await _code(s.groups.invitations.accept(u2.id, by_user[u1.id])) == 4006  # not mine
    await s.groups.invitations.reject(u2.id, by_user[u2.id])
    assert await _code(s.groups.invitations.accept(u2.id, by_user[u2.id])) == 4006
    assert s.publisher.types_for(owner.id) == ["INVITATION_ACCEPTED", "INVITATION_REJECTED"]
    s.clock.advance_days(8)
    assert await s.groups.invitations.pending(u3.id) == []
    assert await _code(s.groups.invitations.accept(u3.id, by_user[u3.id])) == 4008
    assert await s.groups.member(gid, u3.id) is None
    # re-inviting renews the expiry
    (renewed,) = await s.groups.invitations.invite(owner.id, gid, [u3.id, u1.id])
    assert renewed["id"] == by_user[u3.id]
    await s.groups.invitations.accept(u3.id, renewed["id"])
    assert await s.groups.member(gid, u3.id) is not None


async def test_group_size_limit(db) -> None:
    s = build(db, max_group_size=3)
    owner, f1, f2, f3, u = await make_users(db, 5)
    for f in (f1, f2, f3):
        await befriend(s, owner.id, f.id)
    too_many = [f1.id, f2.id, f3.id]
    assert await _code(s.groups.create(owner.id, name="big", member_ids=too_many)) == 4004
    g = await s.groups.create(owner.id, name="ok", member_ids=[f1.id, f2.id])
    assert g["memberCount"] == 3 and g["maxMembers"] == 3
    (inv,) = await s.groups.invitations.invite(owner.id, g["id"], [u.id])
    assert await _code(s.groups.invitations.accept(u.id, inv["id"])) == 4004
    await s.groups.quit(f1.id, g["id"])
    await s.groups.invitations.accept(u.id, inv["id"])
    assert (await s.groups.get(g["id"])).member_count == 3  # type: ignore[union-attr]


async def test_quit_kick_end_subscriptions_and_notify(db) -> None:
    s = build(db)
    owner, m1, m2 = await make_users(db, 3)
    gid = await _group_with(s, owner, [m1, m2])
    topic = f"/topic/chat/{gid}"
    assert await _code(s.groups.quit(owner.id, gid)) == 4007
    await s.groups.quit(m1.id, gid)
    assert await s.groups.member(gid, m1.id) is None
    assert (m1.id, topic) in [(u, d) for u, d, _ in s.publisher.ended]
    await s.groups.kick(owner.id, gid, m2.id)
    assert await s.groups.member(gid, m2.id) is None
    assert (m2.id, topic) in [(u, d) for u, d, _ in s.publisher.ended]
    assert s.publisher.types_for(m2.id)[-1] == "GROUP_KICKED"
    assert (await s.groups.get(gid)).member_count == 1  # type: ignore[union-attr]
    assert await _code(s.groups.require_member(gid, m2.id)) == 4002
    assert await _code(s.groups.kick(owner.id, gid, m2.id)) == 4002  # no longer a member


async def test_roles_transfer_nickname(db) -> None:
    s = build(db)
    owner, m1, m2 = await make_users(db, 3)
    gid = await _group_with(s, owner, [m1, m2])
    await s.groups.set_admin(owner.id, gid, m1.id, True)
    assert (await s.groups.member(gid, m1.id)).role == 1  # type: ignore[union-attr]
    assert s.publisher.types_for(m1.id)[-1] == "GROUP_ROLE_CHANGED"
    await s.groups.set_admin(owner.id, gid, m1.id, False)
    assert (await s.groups.member(gid, m1.id)).role == 0  # type: ignore[union-attr]
    await s.groups.transfer(owner.id, gid, m2.id)
    assert (await s.groups.get(gid)).owner_id == m2.id  # type: ignore[union-attr]
    assert (await s.groups.member(gid, m2.id)).role == 2  # type: ignore[union-attr]
    assert (await s.groups.member(gid, owner.id)).role == 0  # type: ignore[union-attr]
    assert s.publisher.types_for(m2.id)[-1] == "GROUP_OWNER_TRANSFERRED"
    await s.groups.quit(owner.id, gid)  # no longer the owner: may quit
    await s.groups.set_nickname(m1.id, gid, "my name here")
    me = await s.groups.member(gid, m1.id)
    assert me is not None and me.nickname == "my name here"
    members = (await s.groups.members(m1.id, gid)).records
    assert {m["userId"]: m["groupNickname"] for m in members}[m1.id] == "my name here"
    assert await _code(s.groups.set_admin(m2.id, gid, m2.id, False)) == 4003  # owner's role fixed


async def test_update_and_member_invite_flag(db) -> None:
    s = build(db)
    owner, m1, u = await make_users(db, 3)
    gid = await _group_with(s, owner, [m1])
    assert await _code(s.groups.invitations.invite(m1.id, gid, [u.id])) == 4003
    g = await s.groups.update(owner.id, gid, {"name": "New", "allowMemberInvite": True,
                                              "announcement": "notice"})
    assert g.name == "New" and g.allow_member_invite and g.announcement == "notice"
    (inv,) = await s.groups.invitations.invite(m1.id, gid, [u.id])
    assert inv["inviterId"] == m1.id
    await s.groups.invitations.accept(u.id, inv["id"])
    assert s.publisher.types_for(m1.id)[-1] == "INVITATION_ACCEPTED"
    assert await _code(s.groups.update(owner.id, gid, {"allMuted": "yes"})) == 9001
    assert await _code(s.groups.update(owner.id, gid, {"name": "n" * 65})) == 9001


async def test_dissolve_notifies_everyone_and_closes_the_group(db) -> None:
    s = build(db)
    owner, m1, m2, u = await make_users(db, 4)
    gid = await _group_with(s, owner, [m1, m2])
    (inv,) = await s.groups.invitations.invite(owner.id, gid, [u.id])
    await s.groups.dissolve(owner.id, gid)
    assert await s.groups.get(gid) is None
    assert await s.groups.member(gid, m1.id) is None
    assert await s.groups.my_groups(m1.id) == []
    for m in (m1, m2):
        assert s.publisher.types_for(m.id)[-1] == "GROUP_DISSOLVED"
    assert "GROUP_DISSOLVED" not in s.publisher.types_for(owner.id)
    ended = {u_ for u_, d, _ in s.publisher.ended if d == f"/topic/chat/{gid}"}
    assert ended == {owner.id, m1.id, m2.id}
    assert await _code(s.groups.invitations.accept(u.id, inv["id"])) in (4001, 4006)
    assert await _code(s.groups.info(owner.id, gid)) == 4001
    assert await _code(s.groups.dissolve(owner.id, gid)) == 4001
