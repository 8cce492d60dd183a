"""The steps every group operation shares, used by groups.py, invitations.py and
applications.py alike.

Load the active group (4001), find the actor's role and check it against the one
permission table (stompim.im.roles), lock the group row inside a transaction, join a
member within the size limit, name a user in a notification, and report a change as a
system message (`announce`, through the timeline GroupService.attach_timeline sets).
`GroupService` owns one `GroupAccess` and hands it to its `InvitationService` and
`JoinService`, so no service reaches into another's private methods and none of their
modules imports another.
"""

from __future__ import annotations

import logging
from typing import Any

from stompim.im.clock import Clock
from stompim.im.errors import GROUP_FULL, GROUP_NOT_FOUND, ImError
from stompim.im.friends import display_name
from stompim.im.ids import id_value
from stompim.im.roles import Action, Role, check
from stompim.im.system_messages import NoSystemMessages, Timeline
from stompim.store.database import Database
from stompim.store.friends import FriendRepository
from stompim.store.groups import GroupRecord, GroupRepository, MemberRecord
from stompim.store.users import UserRepository

__all__ = ["GroupAccess", "role_of"]

log = logging.getLogger(__name__)


def role_of(member: MemberRecord | None) -> Role:
    return Role.OUTSIDER if member is None else Role(member.role)


class GroupAccess:
    """Group lookups, permission checks and row locks over the shared repositories."""

    def __init__(
        self,
        db: Database,
        repo: GroupRepository,
        users: UserRepository,
        friends: FriendRepository,
        clock: Clock,
    ) -> None:
        self.db = db
        self.repo = repo
        self.users = users
        self.friends = friends
        self.clock = clock
        self.timeline: Timeline = NoSystemMessages()  # GroupService.attach_timeline

    async def announce(
        self, group_id: int, actor_id: int, event: str, text: str, **fields: Any
    ) -> None:
        """Post a group event as a system message (after the commit of the change).
        The change is stored: a message that cannot be written is logged, never raised
        (members still see the change itself: member list, group info)."""
        try:
            await self.timeline.post(group_id, actor_id, event, text, **fields)
        except Exception:
            log.exception("the system message %s of group %s was not stored", event, group_id)

    async def get(self, group_id: int) -> GroupRecord | None:
        """The group when it exists and is active."""
        group = await self.repo.get_group(id_value(group_id, "groupId"))
        return group if group is not None and group.status == 1 else None

    async def require_group(self, group_id: int) -> GroupRecord:
        group = await self.get(group_id)
        if group is None:
            raise ImError(GROUP_NOT_FOUND, "group not found", 404)
        return group

    async def authorize(
        self, actor_id: int, group_id: int, action: Action
    ) -> tuple[GroupRecord, MemberRecord | None]:
        """The active group and the actor's membership, once `action` is allowed."""
        group = await self.require_group(group_id)
        actor = await self.repo.member(group_id, actor_id)
        check(action, role_of(actor), allow_member_invite=group.allow_member_invite)
        return group, actor

    async def locked_active(self, tx: Any, group_id: int) -> GroupRecord:
        """Lock the group row inside `tx` (the first lock of every group change)."""
        group = await self.repo.lock_group(tx, group_id)
        if group is None or group.status != 1:
            raise ImError(GROUP_NOT_FOUND, "group not found", 404)
        return group

    async def join(self, tx: Any, group_id: int, user_id: int) -> bool:
        """Add `user_id` inside the caller's transaction, refusing past the size limit.

        Locks the group row first; returns False when already a member.
        """
        group = await self.locked_active(tx, group_id)
        if await self.repo.member(group_id, user_id, tx) is not None:
            return False
        if group.member_count >= group.max_members:
            raise ImError(GROUP_FULL, "group is full", 409)
        now = self.clock()
        await self.repo.add_member(tx, group_id, user_id, int(Role.MEMBER), now)
        await self.repo.add_to_count(tx, group_id, 1, now)
        return True

    async def display_name(self, user_id: int) -> str:
        return await display_name(self.users, user_id)
