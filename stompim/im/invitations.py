"""Group invitations: invite, list mine, accept (joins, within the size limit), reject.

An invitation is pending until answered and expires `ttl_days` after it was last
sent (re-inviting renews it). Accepting runs in one transaction that locks the
group row before the invitation row (the same order every group change uses),
joins through GroupService.join (size limit, member_count) and marks the
invitation accepted; accepting twice is harmless.

Created by GroupService (it owns one as `groups.invitations`) over the steps both
share (`GroupAccess`); this module does not know GroupService.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stompim.im.errors import INVITATION_EXPIRED, INVITATION_NOT_FOUND, ImError
from stompim.im.friends import user_summary
from stompim.im.group_access import GroupAccess
from stompim.im.ids import id_list, id_value
from stompim.im.notifications import NotificationService, NotificationType
from stompim.im.roles import Action
from stompim.im.system_messages import GroupEvent
from stompim.store.groups import INV_ACCEPTED, INV_PENDING, INV_REJECTED, InvitationRecord

DAY_MS = 24 * 3600 * 1000


class InvitationService:
    def __init__(
        self, access: GroupAccess, notifications: NotificationService, *, ttl_days: int = 7
    ) -> None:
        self.access = access
        self.notifications = notifications
        self.repo = access.repo
        self.ttl_ms = ttl_days * DAY_MS

    async def invite(
        self, actor_id: int, group_id: int, user_ids: Iterable[int]
    ) -> list[dict[str, Any]]:
        """Invite users (owner/admin; members when the group allows). Current members,
        unknown users and users blocked either way are skipped. Returns the
        invitations created or renewed."""
        group, _ = await self.access.authorize(actor_id, group_id, Action.INVITE)
        candidates = sorted(set(id_list(user_ids, "userIds")) - {actor_id})
        users = await self.access.users.get_many(candidates)
        wanted = []
        for uid in candidates:
            user = users.get(uid)
            if user is None or user.status != 1:
                continue
            if await self.access.friends.blocked_either(actor_id, uid):
                continue
            wanted.append(uid)
        made: list[InvitationRecord] = []
        clock = self.access.clock
        async with self.access.db.transaction() as tx:
            await self.access.locked_active(tx, group_id)
            for uid in wanted:
                if await self.repo.member(group_id, uid, tx) is not None:
                    continue
                now = clock()
                expires = now + self.ttl_ms
                old = await self.repo.pending_invitation(tx, group_id, uid)
                if old is not None:
                    await self.repo.renew_invitation(tx, old.id, actor_id, expires, now)
                    made.append(
                        InvitationRecord(old.id, group_id, actor_id, uid, INV_PENDING, expires,
                                         old.created_at, now)
                    )
                else:
                    made.append(
                        await self.repo.insert_invitation(tx, group_id, actor_id, uid, expires, now)
                    )
        inviter = await self.access.display_name(actor_id)
        for inv in made:
            await self.notifications.notify(
                inv.invitee_id, NotificationType.GROUP_INVITATION,
                f"{inviter} invited you to join {group.name}",
                {"invitationId": inv.id, "groupId": group_id, "groupName": group.name,
                 "inviterId": actor_id, "expiresAt": inv.expires_at},
            )
        return [inv.to_json() for inv in made]

    async def pending(self, user_id: int) -> list[dict[str, Any]]:
        """My unanswered, unexpired invitations to active groups, newest first."""
        invs = await self.repo.pending_invitations_of(user_id, self.access.clock())
        groups = await self.repo.get_groups(sorted({i.group_id for i in invs}))
        inviters = await self.access.users.get_many({i.inviter_id for i in invs})
        out = []
        for inv in invs:
            g = groups.get(inv.group_id)
            if g is None or g.status != 1:
                continue
            out.append(inv.to_json() | {
                "groupName": g.name,
                "groupAvatar": g.avatar,
                "memberCount": g.member_count,
                "inviter": user_summary(inviters.get(inv.inviter_id), inv.inviter_id),
            })
        return out

    async def _mine(self, user_id: int, invitation_id: int) -> InvitationRecord:
        inv = await self.repo.get_invitation(id_value(invitation_id, "invitationId"))
        if inv is None or inv.invitee_id != user_id:
            raise ImError(INVITATION_NOT_FOUND, "invitation not found", 404)
        return inv

    async def accept(self, user_id: int, invitation_id: int) -> dict[str, Any]:
        """Join the group. Expired -> 4008, group gone -> 4001, full -> 4004."""
        inv = await self._mine(user_id, invitation_id)
        now = self.access.clock()
        async with self.access.db.transaction() as tx:
            await self.access.locked_active(tx, inv.group_id)
            locked = await self.repo.lock_invitation(tx, invitation_id)
            assert locked is not None
            if locked.status == INV_ACCEPTED:
                return locked.to_json()
            if locked.status != INV_PENDING:
                raise ImError(INVITATION_NOT_FOUND, "invitation already answered", 409)
            if locked.expires_at <= now:
                raise ImError(INVITATION_EXPIRED, "invitation expired", 410)
            await self.access.join(tx, inv.group_id, user_id)
            await self.repo.set_invitation_status(tx, invitation_id, INV_ACCEPTED, now)
        group = await self.access.get(inv.group_id)
        name = await self.access.display_name(user_id)
        await self.access.announce(
            inv.group_id, user_id, GroupEvent.MEMBER_JOINED,
            f"{name} joined (invited by {await self.access.display_name(locked.inviter_id)})",
            userIds=[user_id], via="invitation", inviterId=locked.inviter_id,
        )
        await self.notifications.notify(
            locked.inviter_id, NotificationType.INVITATION_ACCEPTED,
            f"{name} joined {group.name if group else 'the group'}",
            {"invitationId": inv.id, "groupId": inv.group_id, "userId": user_id},
        )
        return locked.to_json() | {"status": INV_ACCEPTED, "updatedAt": now}

    async def reject(self, user_id: int, invitation_id: int) -> dict[str, Any]:
        inv = await self._mine(user_id, invitation_id)
        now = self.access.clock()
        async with self.access.db.transaction() as tx:
            locked = await self.repo.lock_invitation(tx, invitation_id)
            assert locked is not None
            if locked.status == INV_REJECTED:
                return locked.to_json()
            if locked.status != INV_PENDING:
                raise ImError(INVITATION_NOT_FOUND, "invitation already answered", 409)
            await self.repo.set_invitation_status(tx, invitation_id, INV_REJECTED, now)
        group = await self.repo.get_group(inv.group_id)
        name = await self.access.display_name(user_id)
        await self.notifications.notify(
            locked.inviter_id, NotificationType.INVITATION_REJECTED,
            f"{name} declined to join {group.name if group else 'the group'}",
            {"invitationId": inv.id, "groupId": inv.group_id, "userId": user_id},
        )
        return locked.to_json() | {"status": INV_REJECTED, "updatedAt": now}
