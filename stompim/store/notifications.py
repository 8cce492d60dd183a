"""Notification rows: the notification center's persistence.

One row per event a user should learn about; `is_read` flips once. Reads are
always scoped by `user_id`, so a user can never read or mark another's rows.
Newest first means highest id first (ids grow with time on both backends).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from stompim.store.database import Database


@dataclass(frozen=True)
class NotificationRecord:
    id: int
    user_id: int
    type: str
    message: str
    extra: dict[str, Any]
    read: bool
    created_at: int

    def to_json(self) -> dict[str, Any]:
        """The camelCase shape REST returns and the push body carries."""
        return {
            "id": self.id,
            "userId": self.user_id,
            "type": self.type,
            "message": self.message,
            "extra": self.extra,
            "read": self.read,
            "createdAt": self.created_at,
        }


def _record(row: dict[str, Any]) -> NotificationRecord:
    extra = row["extra"]
    return NotificationRecord(
        id=int(row["id"]),
        user_id=int(row["user_id"]),
        type=row["type"],
        message=row["message"],
        extra=orjson.loads(extra) if extra else {},
        read=bool(row["is_read"]),
        created_at=int(row["created_at"]),
    )


_COLUMNS = "id, user_id, type, message, extra, is_read, created_at"


class NotificationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, user_id: int, type: str, message: str, extra: dict[str, Any], created_at: int
    ) -> NotificationRecord:
        res = await self.db.execute(
            "INSERT INTO notification (user_id, type, message, extra, is_read, created_at)"
            " VALUES (?, ?, ?, ?, 0, ?)",
            (user_id, type, message, orjson.dumps(extra).decode(), created_at),
        )
        assert res.lastrowid is not None
        return NotificationRecord(
            int(res.lastrowid), user_id, type, message, extra, False, created_at
        )

    async def page(self, user_id: int, offset: int, limit: int) -> list[NotificationRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {_COLUMNS} FROM notification WHERE user_id = ?"
            " ORDER BY id DESC LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return [_record(r) for r in rows]

    async def count(self, user_id: int, *, unread_only: bool = False) -> int:
        sql = "SELECT COUNT(*) FROM notification WHERE user_id = ?"
        if unread_only:
            sql += " AND is_read = 0"
        return int(await self.db.fetch_val(sql, (user_id,)) or 0)

    async def mark_read(self, user_id: int, ids: Iterable[int]) -> int:
        """Mark the user's own notifications among `ids` read; returns rows changed."""
        id_list = sorted(set(ids))
        if not id_list:
            return 0
        marks = ", ".join("?" for _ in id_list)
        res = await self.db.execute(
            f"UPDATE notification SET is_read = 1 WHERE user_id = ? AND is_read = 0"
            f" AND id IN ({marks})",
            (user_id, *id_list),
        )
        return res.rowcount

    async def mark_all_read(self, user_id: int) -> int:
        res = await self.db.execute(
            "UPDATE notification SET is_read = 1 WHERE user_id = ? AND is_read = 0", (user_id,)
        )
        return res.rowcount
