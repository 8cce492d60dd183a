"""Joining a group without an invitation: join requests and invite links.

The group's `joinPolicy` decides what `apply` does: `invite_only` refuses (4011),
`approval` stores a pending request for the owner and admins (notified with
GROUP_APPLICATION), `open` joins at once. An invite link (`create_link`, owner and
admins, members too when the group allows member invites) lets whoever holds its
code join under any policy, until it expires or its uses run out.

Races: approving, and joining by link or by an open group, run in one transaction
that locks the group row first (GroupAccess.locked_active, the order of every group
change), then the request or link row, and joins through GroupAccess.join (size
limit and member_count). So two admins approving at once never take the group past
its limit (the later one gets 4004), and approving one request twice is answered
like once.

After the commit: a system message `member_joined` (via application, link or open;
stompim.im.system_messages) and the notifications. Created by GroupService (it owns
one as `groups.joins`) over GroupAccess; this module does not know GroupService.
"""

from __future__ import annotations

import secrets
from typing import Any

from stompim.im.errors import (
    ALREADY_MEMBER,
    APPLICATION_NOT_FOUND,
    BAD_REQUEST,
    GROUP_FULL,
    INVITE_LINK_INVALID,
    JOIN_NOT_ALLOWED,
    ImError,
)
from stompim.im.friends import user_summary
from stompim.im.group_access import GroupAccess
from stompim.im.ids import id_value
from stompim.im.notifications import NotificationService, NotificationType
from stompim.im.paging import Page, check_window
from stompim.im.roles import Action
from stompim.im.system_messages import GroupEvent
from stompim.store.group_joins import (
    APP_APPROVED,
    APP_PENDING,
    APP_REJECTED,
    ApplicationRecord,
    GroupJoinRepository,
)

MAX_APPLICATION_MESSAGE = 255
MAX_APPLICATIONS_PAGE = 100
MINUTE_MS = 60_000
DEFAULT_LINK_MINUTES = 7 * 24 * 60
MAX_LINK_MINUTES = 30 * 24 * 60
MAX_LINK_USES = 10_000
MAX_CODE = 64


class JoinService:
    def __init__(self, access: GroupAccess, notifications: NotificationService) -> None:
        self.access = access
        self.notifications = notifications
        self.repo = GroupJoinRepository(access.db)

    # -- requests ------------------------------------------------------------------------

    async def apply(self, user_id: int, group_id: int, message: str = "") -> dict[str, Any]:
        """Ask to join. Returns the request: pending (status 0) under `approval` (asking
        again while pending updates its message), approved (1) at once under `open`."""
        if not isinstance(message, str) or len(message) > MAX_APPLICATION_MESSAGE:
            raise ImError(BAD_REQUEST, f"message: at most {MAX_APPLICATION_MESSAGE} characters")
        group = await self.access.require_group(group_id)
        if await self.access.repo.member(group_id, user_id) is not None:
            raise ImError(ALREADY_MEMBER, "already a member of the group", 409)
        if group.join_policy == "invite_only":
            raise ImError(JOIN_NOT_ALLOWED, "this group takes members by invitation only", 403)
        now = self.access.clock()
        if group.join_policy == "open":
            async with self.access.db.transaction() as tx:
                await self.access.join(tx, group_id, user_id)
                record = await self.repo.insert_application(
                    tx, group_id, user_id, message, APP_APPROVED, 0, now)
            name = await self.access.display_name(user_id)
            await self.access.announce(
                group_id, user_id, GroupEvent.MEMBER_JOINED, f"{name} joined the group",
                userIds=[user_id], via="open",
            )
            return record.to_json()
        async with self.access.db.transaction() as tx:
            await self.access.locked_active(tx, group_id)
            old = await self.repo.pending_of(tx, group_id, user_id)
            if old is not None:
                await self.repo.renew_application(tx, old.id, message, now)
                record = ApplicationRecord(old.id, group_id, user_id, message, APP_PENDING, 0,
                                           old.created_at, now)
            else:
                record = await self.repo.insert_application(
                    tx, group_id, user_id, message, APP_PENDING, 0, now)
        name = await self.access.display_name(user_id)
        await self.notifications.notify_many(
            await self.repo.admin_ids(group_id), NotificationType.GROUP_APPLICATION,
            f"{name} asks to join {group.name}",
            {"applicationId": record.id, "groupId": group_id, "groupName": group.name,
             "applicantId": user_id, "message": message},
        )
        return record.to_json()

    async def pending(
        self, actor_id: int, group_id: int, *, offset: int = 0, limit: int = 20
    ) -> Page[dict[str, Any]]:
        """Pending requests, oldest first, with the applicants' profiles (owner, admins)."""
        check_window(offset, limit, MAX_APPLICATIONS_PAGE)
        await self.access.authorize(actor_id, group_id, Action.HANDLE_APPLICATIONS)
        records, total = await self.repo.pending_page(group_id, offset, limit)
        users = await self.access.users.get_many(r.applicant_id for r in records)
        return Page(
            [r.to_json() | {"applicant": user_summary(users.get(r.applicant_id), r.applicant_id)}
             for r in records],
            total,
        )

    async def _of_group(self, group_id: int, application_id: int) -> ApplicationRecord:
        app = await self.repo.get_application(id_value(application_id, "applicationId"))
        if app is None or app.group_id != group_id:
            raise ImError(APPLICATION_NOT_FOUND, "join request not found", 404)
        return app

    async def approve(
        self, actor_id: int, group_id: int, application_id: int
    ) -> dict[str, Any]:
        """Let the applicant in (4004 when full). Approving twice answers like once."""
        group, _ = await self.access.authorize(actor_id, group_id, Action.HANDLE_APPLICATIONS)
        await self._of_group(group_id, application_id)
        now = self.access.clock()
        async with self.access.db.transaction() as tx:
            await self.access.locked_active(tx, group_id)
            app = await self.repo.lock_application(tx, application_id)
            assert app is not None
            if app.status == APP_APPROVED:
                return app.to_json()
            if app.status != APP_PENDING:
                raise ImError(APPLICATION_NOT_FOUND, "join request already answered", 409)
            await self.access.join(tx, group_id, app.applicant_id)
            await self.repo.answer_application(tx, app.id, APP_APPROVED, actor_id, now)
        who = await self.access.display_name(actor_id)
        whom = await self.access.display_name(app.applicant_id)
        await self.access.announce(
            group_id, actor_id, GroupEvent.MEMBER_JOINED, f"{who} let {whom} in",
            userIds=[app.applicant_id], via="application", applicationId=app.id,
        )
        await self.notifications.notify(
            app.applicant_id, NotificationType.APPLICATION_APPROVED,
            f"you joined {group.name}",
            {"applicationId": app.id, "groupId": group_id, "groupName": group.name,
             "operatorId": actor_id},
        )
        return app.to_json() | {"status": APP_APPROVED, "handlerId": actor_id, "updatedAt": now}

    async def reject(self, actor_id: int, group_id: int, application_id: int) -> dict[str, Any]:
        group, _ = await self.access.authorize(actor_id, group_id, Action.HANDLE_APPLICATIONS)
        await self._of_group(group_id, application_id)
        now = self.access.clock()
        async with self.access.db.transaction() as tx:
            await self.access.locked_active(tx, group_id)
            app = await self.repo.lock_application(tx, application_id)
            assert app is not None
            if app.status == APP_REJECTED:
                return app.to_json()
            if app.status != APP_PENDING:
                raise ImError(APPLICATION_NOT_FOUND, "join request already answered", 409)
            await self.repo.answer_application(tx, app.id, APP_REJECTED, actor_id, now)
        await self.notifications.notify(
            app.applicant_id, NotificationType.APPLICATION_REJECTED,
            f"your request to join {group.name} was declined",
            {"applicationId": app.id, "groupId": group_id, "groupName": group.name,
             "operatorId": actor_id},
        )
        return app.to_json() | {"status": APP_REJECTED, "handlerId": actor_id, "updatedAt": now}

    # -- invite links --------------------------------------------------------------------

    async def create_link(
        self, actor_id: int, group_id: int, *, minutes: int = DEFAULT_LINK_MINUTES,
        max_uses: int = 0,
    ) -> dict[str, Any]:
        """A new code: valid `minutes` (1..30 days), for `max_uses` joins (0: no limit)."""
        if not 1 <= minutes <= MAX_LINK_MINUTES:
            raise ImError(BAD_REQUEST, f"expiresInMinutes: from 1 to {MAX_LINK_MINUTES}")
        if not 0 <= max_uses <= MAX_LINK_USES:
            raise ImError(BAD_REQUEST, f"maxUses: from 0 to {MAX_LINK_USES}")
        await self.access.authorize(actor_id, group_id, Action.MAKE_INVITE_LINK)
        now = self.access.clock()
        record = await self.repo.insert_link(
            group_id, secrets.token_urlsafe(18), actor_id, now + minutes * MINUTE_MS, max_uses,
            now,
        )
        return record.to_json()

    async def join_by_link(self, user_id: int, code: str) -> dict[str, Any]:
        """Join the link's group (any join policy). 4012 when the code is unknown,
        expired or used up; 4004 when the group is full. Already a member: the group,
        and the link keeps its use."""
        if not isinstance(code, str) or not 1 <= len(code) <= MAX_CODE:
            raise ImError(BAD_REQUEST, f"code: a string of 1 to {MAX_CODE} characters")
        found = await self.repo.link_by_code(code)
        if found is None or found.status != 1:
            raise ImError(INVITE_LINK_INVALID, "invite link not found", 404)
        group_id = found.group_id
        now = self.access.clock()
        async with self.access.db.transaction() as tx:
            group = await self.access.locked_active(tx, group_id)
            link = await self.repo.link_by_code(code, tx)
            assert link is not None
            if link.expires_at <= now:
                raise ImError(INVITE_LINK_INVALID, "invite link expired", 410)
            if await self.access.repo.member(group_id, user_id, tx) is not None:
                return group.to_json()
            if link.max_uses and link.uses >= link.max_uses:
                raise ImError(INVITE_LINK_INVALID, "invite link used up", 410)
            if group.member_count >= group.max_members:
                raise ImError(GROUP_FULL, "group is full", 409)
            await self.access.join(tx, group_id, user_id)
            await self.repo.use_link(tx, link.id)
        name = await self.access.display_name(user_id)
        await self.access.announce(
            group_id, user_id, GroupEvent.MEMBER_JOINED, f"{name} joined by an invite link",
            userIds=[user_id], via="link", inviterId=link.creator_id,
        )
        joined = await self.access.require_group(group_id)
        return joined.to_json()
