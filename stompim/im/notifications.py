"""The notification center: store an event for a user, then push it to every session.

Call order inside other services: finish (commit) the domain change first, then
`notify()` — a notification never announces something that was rolled back. The
row is written before the push, so a user offline at that moment finds it on the
next `GET /api/notification` page; an online user gets it at once through the
Publisher (the STOMP binding delivers it on `/queue/notification/<userId>`, every
open session, cluster-wide).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from stompim.im.clock import Clock, now_ms
from stompim.im.paging import MAX_LIMIT, Page, check_window
from stompim.im.publisher import Publisher
from stompim.store.database import Database
from stompim.store.notifications import NotificationRecord, NotificationRepository


class NotificationType(enum.StrEnum):
    """The `type` field of a notification, as the front end switches on it."""

    FRIEND_REQUEST = "FRIEND_REQUEST"
    FRIEND_ACCEPTED = "FRIEND_ACCEPTED"
    FRIEND_REJECTED = "FRIEND_REJECTED"
    GROUP_INVITATION = "GROUP_INVITATION"
    INVITATION_ACCEPTED = "INVITATION_ACCEPTED"
    INVITATION_REJECTED = "INVITATION_REJECTED"
    GROUP_KICKED = "GROUP_KICKED"
    GROUP_ROLE_CHANGED = "GROUP_ROLE_CHANGED"
    GROUP_DISSOLVED = "GROUP_DISSOLVED"
    GROUP_OWNER_TRANSFERRED = "GROUP_OWNER_TRANSFERRED"
    GROUP_JOINED = "GROUP_JOINED"  #: added directly (at creation, from the whitelist)
    GROUP_MUTED = "GROUP_MUTED"  #: a member's timed mute set or lifted
    GROUP_APPLICATION = "GROUP_APPLICATION"  #: to owner and admins: someone asks to join
    APPLICATION_APPROVED = "APPLICATION_APPROVED"  #: to the applicant
    APPLICATION_REJECTED = "APPLICATION_REJECTED"  #: to the applicant


class NotificationService:
    def __init__(self, db: Database, publisher: Publisher, *, clock: Clock = now_ms) -> None:
        self.repo = NotificationRepository(db)
        self.publisher = publisher
        self.clock = clock

    async def notify(
        self, user_id: int, type: str, message: str, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Store a notification for `user_id`, push it, and return its JSON shape."""
        record = await self.repo.add(user_id, str(type), message, dict(extra or {}), self.clock())
        body = record.to_json()
        # Stored already: a push that fails is the publisher's to log (it never raises);
        # the user finds the entry on the next page load.
        await self.publisher.notification(user_id, body)
        return body

    async def notify_many(
        self, user_ids: Iterable[int], type: str, message: str, extra: dict[str, Any] | None = None
    ) -> None:
        for uid in user_ids:
            await self.notify(uid, type, message, extra)

    async def page(
        self, user_id: int, *, offset: int = 0, limit: int = 20
    ) -> Page[dict[str, Any]]:
        """Newest first; at most MAX_LIMIT a page."""
        check_window(offset, limit, MAX_LIMIT)
        records = await self.repo.page(user_id, offset, limit)
        total = await self.repo.count(user_id)
        return Page([r.to_json() for r in records], total)

    async def list_records(self, user_id: int, limit: int = 100) -> list[NotificationRecord]:
        return await self.repo.page(user_id, 0, limit)

    async def unread_count(self, user_id: int) -> int:
        return await self.repo.count(user_id, unread_only=True)

    async def mark_read(self, user_id: int, ids: Iterable[int]) -> int:
        return await self.repo.mark_read(user_id, ids)

    async def mark_all_read(self, user_id: int) -> int:
        return await self.repo.mark_all_read(user_id)
