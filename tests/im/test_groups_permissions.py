"""The group permission matrix: every action tried by owner, admin, member and outsider.

Each case builds a group with owner O, admins A and A2, members M and M2, and an
outsider X, then has the actor try the action. Expected: None (allowed) or the
ImError code of the refusal. The rows restate issue 4's rules, so a change to the
table in stompim/im/roles.py that breaks them fails here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from _social import Social, befriend, build, make_users

from stompim.im.errors import ImError
from stompim.im.roles import PERMISSIONS, Action, Role, allowed, check

ROLES = ("owner", "admin", "member", "outsider")

# action -> expected outcome for (owner, admin, member, outsider)
MATRIX: dict[str, tuple[int | None, int | None, int | None, int | None]] = {
    "update": (None, None, 4003, 4002),
    "invite": (None, None, 4003, 4002),
    "kick_member": (None, None, 4003, 4002),
    "kick_admin": (None, 4003, 4003, 4002),
    "kick_owner": (4003, 4003, 4003, 4002),
    "set_admin": (None, 4003, 4003, 4002),
    "unset_admin": (None, 4003, 4003, 4002),
    "transfer": (None, 4003, 4003, 4002),
    "dissolve": (None, 4003, 4003, 4002),
    "quit": (4007, None, None, 4002),
    "set_nickname": (None, None, None, 4002),
    "view_members": (None, None, None, 4002),
    "mute_member": (None, None, 4003, 4002),
    "mute_admin": (None, 4003, 4003, 4002),
    "mute_owner": (4003, 4003, 4003, 4002),
    "list_applications": (None, None, 4003, 4002),
    "invite_link": (None, None, 4003, 4002),
}


async def _setup(s: Social) -> tuple[int, dict[str, int]]:
    o, a, a2, m, m2, x, newcomer = await make_users(s.db, 7)
    for u in (a, a2, m, m2):
        await befriend(s, o.id, u.id)
    g = await s.groups.create(o.id, name="perm", member_ids=[a.id, a2.id, m.id, m2.id])
    gid = int(g["id"])
    await s.groups.set_admin(o.id, gid, a.id, True)
    await s.groups.set_admin(o.id, gid, a2.id, True)
    ids = {"owner": o.id, "admin": a.id, "admin2": a2.id, "member": m.id, "member2": m2.id,
           "outsider": x.id, "newcomer": newcomer.id}
    return gid, ids


def _op(action: str, s: Social, gid: int, ids: dict[str, int]) -> Callable[[int], Awaitable[Any]]:
    g = s.groups
    return {
        "update": lambda u: g.update(u, gid, {"announcement": "changed"}),
        "invite": lambda u: g.invitations.invite(u, gid, [ids["newcomer"]]),
        "kick_member": lambda u: g.kick(u, gid, ids["member2"]),
        "kick_admin": lambda u: g.kick(u, gid, ids["admin2"]),
        "kick_owner": lambda u: g.kick(u, gid, ids["owner"]),
        "set_admin": lambda u: g.set_admin(u, gid, ids["member2"], True),
        "unset_admin": lambda u: g.set_admin(u, gid, ids["admin2"], False),
        "transfer": lambda u: g.transfer(u, gid, ids["member2"]),
        "dissolve": lambda u: g.dissolve(u, gid),
        "quit": lambda u: g.quit(u, gid),
        "set_nickname": lambda u: g.set_nickname(u, gid, "nick"),
        "view_members": lambda u: g.members(u, gid),
        "mute_member": lambda u: g.mute_member(u, gid, ids["member2"], 5),
        "mute_admin": lambda u: g.mute_member(u, gid, ids["admin2"], 5),
        "mute_owner": lambda u: g.mute_member(u, gid, ids["owner"], 5),
        "list_applications": lambda u: g.joins.pending(u, gid),
        "invite_link": lambda u: g.joins.create_link(u, gid),
    }[action]


CASES = [
    pytest.param(action, role, expected[i], id=f"{action}-{role}")
    for action, expected in MATRIX.items()
    for i, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("action", "role", "expected"), CASES)
async def test_permission_matrix(db, action: str, role: str, expected: int | None) -> None:
    s = build(db)
    gid, ids = await _setup(s)
    op = _op(action, s, gid, ids)
    if expected is None:
        await op(ids[role])
    else:
        with pytest.raises(ImError) as info:
            await op(ids[role])
        assert info.value.code == expected
        # a refused action changed nothing visible
        assert (await s.groups.get(gid)) is not None
        assert await s.groups.member(gid, ids["member2"]) is not None
        assert (await s.groups.member(gid, ids["admin2"])).role == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("role", ["member"])
async def test_members_invite_when_the_group_allows(db, role: str) -> None:
    s = build(db)
    gid, ids = await _setup(s)
    await s.groups.update(ids["owner"], gid, {"allowMemberInvite": True})
    (inv,) = await s.groups.invitations.invite(ids[role], gid, [ids["newcomer"]])
    assert inv["inviteeId"] == ids["newcomer"]
    with pytest.raises(ImError) as info:
        await s.groups.invitations.invite(ids["outsider"], gid, [ids["newcomer"]])
    assert info.value.code == 4002


def test_table_covers_every_action_and_refuses_outsiders() -> None:
    assert set(PERMISSIONS) == set(Action)
    for action in Action:
        assert not allowed(action, Role.OUTSIDER, allow_member_invite=True)
        with pytest.raises(ImError) as info:
            check(action, Role.OUTSIDER)
        assert info.value.code == 4002 and info.value.status == 403
    assert allowed(Action.INVITE, Role.MEMBER, allow_member_invite=True)
    assert not allowed(Action.INVITE, Role.MEMBER, allow_member_invite=False)
