"""Group roles and the one table that says who may do what in a group.

Every group action the services perform is checked here, through `check()`, and
nowhere else: the table below *is* the permission policy, and the matrix test
(tests/im/test_groups_permissions.py) walks it row by row.

Call order in a service: load the group (4001 when missing), load the actor's
membership (None for an outsider), then `check(action, role_of(member), group)`.
Target-dependent actions (kick) pick their action from the target's role first:
`kick_action(target_role)`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from stompim.im.errors import (
    GROUP_PERMISSION_DENIED,
    NOT_GROUP_MEMBER,
    OWNER_MUST_TRANSFER,
    ImError,
)


class Role(enum.IntEnum):
    """A user's standing in one group; the int is what the member row stores."""

    OUTSIDER = -1  #: not an active member (never stored)
    MEMBER = 0
    ADMIN = 1
    OWNER = 2


class Action(enum.Enum):
    """Everything a user can try to do to a group."""

    VIEW = "view"  #: group info and member list
    UPDATE = "update"  #: name, avatar, announcement, flags
    INVITE = "invite"
    KICK_MEMBER = "kick_member"
    KICK_ADMIN = "kick_admin"
    KICK_OWNER = "kick_owner"
    SET_ADMIN = "set_admin"  #: grant or revoke admin
    TRANSFER = "transfer"  #: hand ownership to another member
    DISSOLVE = "dissolve"
    QUIT = "quit"
    SET_NICKNAME = "set_nickname"  #: one's own group nickname
    MUTE_MEMBER = "mute_member"  #: a timed mute of a plain member
    MUTE_ADMIN = "mute_admin"
    MUTE_OWNER = "mute_owner"
    HANDLE_APPLICATIONS = "handle_applications"  #: list, approve, reject join requests
    MAKE_INVITE_LINK = "make_invite_link"


class Rule(enum.Enum):
    """The outcome of a table cell."""

    ALLOW = "allow"
    DENY = "deny"  #: 4003, or 4002 for an outsider
    IF_MEMBER_INVITE = "if_member_invite"  #: allowed when the group's allow_member_invite is on
    OWNER_MUST_TRANSFER = "owner_must_transfer"  #: 4007


_A, _D = Rule.ALLOW, Rule.DENY

# action -> (owner, admin, member); outsiders are refused every action.
PERMISSIONS: Mapping[Action, tuple[Rule, Rule, Rule]] = {
    Action.VIEW: (_A, _A, _A),
    Action.UPDATE: (_A, _A, _D),
    Action.INVITE: (_A, _A, Rule.IF_MEMBER_INVITE),
    Action.KICK_MEMBER: (_A, _A, _D),
    Action.KICK_ADMIN: (_A, _D, _D),
    Action.KICK_OWNER: (_D, _D, _D),
    Action.SET_ADMIN: (_A, _D, _D),
    Action.TRANSFER: (_A, _D, _D),
    Action.DISSOLVE: (_A, _D, _D),
    Action.QUIT: (Rule.OWNER_MUST_TRANSFER, _A, _A),
    Action.SET_NICKNAME: (_A, _A, _A),
    Action.MUTE_MEMBER: (_A, _A, _D),
    Action.MUTE_ADMIN: (_A, _D, _D),
    Action.MUTE_OWNER: (_D, _D, _D),
    Action.HANDLE_APPLICATIONS: (_A, _A, _D),
    Action.MAKE_INVITE_LINK: (_A, _A, Rule.IF_MEMBER_INVITE),
}


def rule_for(action: Action, role: Role) -> Rule:
    """The table cell for `action` tried by `role`."""
    if role is Role.OUTSIDER:
        return Rule.DENY
    owner, admin, member = PERMISSIONS[action]
    return {Role.OWNER: owner, Role.ADMIN: admin, Role.MEMBER: member}[role]


def allowed(action: Action, role: Role, *, allow_member_invite: bool = False) -> bool:
    """True when `role` may perform `action` in a group with the given flag."""
    rule = rule_for(action, role)
    return rule is Rule.ALLOW or (rule is Rule.IF_MEMBER_INVITE and allow_member_invite)


def check(action: Action, role: Role, *, allow_member_invite: bool = False) -> None:
    """Raise the ImError that refuses `action` for `role`, or return when allowed."""
    if allowed(action, role, allow_member_invite=allow_member_invite):
        return
    if role is Role.OUTSIDER:
        raise ImError(NOT_GROUP_MEMBER, "not a member of the group", 403)
    if rule_for(action, role) is Rule.OWNER_MUST_TRANSFER:
        raise ImError(OWNER_MUST_TRANSFER, "the owner must transfer ownership before quitting", 409)
    raise ImError(GROUP_PERMISSION_DENIED, f"not allowed to {action.value.replace('_', ' ')}", 403)


def kick_action(target: Role) -> Action:
    """The action a kick of a user with role `target` amounts to."""
    return {
        Role.MEMBER: Action.KICK_MEMBER,
        Role.ADMIN: Action.KICK_ADMIN,
        Role.OWNER: Action.KICK_OWNER,
    }[target]


def mute_action(target: Role) -> Action:
    """The action a mute of a user with role `target` amounts to (muting oneself
    falls under MUTE_<own role>, which the table never allows an admin or owner)."""
    return {
        Role.MEMBER: Action.MUTE_MEMBER,
        Role.ADMIN: Action.MUTE_ADMIN,
        Role.OWNER: Action.MUTE_OWNER,
    }[target]
