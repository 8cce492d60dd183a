"""Presence settings and last-seen times, one row per user who has either
(table `user_presence`; a user without a row is visible and never seen offline)."""

from __future__ import annotations

from collections.abc import Iterable

from stompim.store.database import Database

__all__ = ["PresenceRepository"]


class PresenceRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _upsert(self, column: str) -> str:
        head = (
            f"INSERT INTO user_presence (user_id, {column}, updated_at) VALUES (?, ?, ?)"
        )
        if self._db.dialect == "mysql":
            return f"{head} ON DUPLICATE KEY UPDATE {column} = VALUES({column}),"\
                " updated_at = VALUES(updated_at)"
        return f"{head} ON CONFLICT (user_id) DO UPDATE SET {column} = excluded.{column},"\
            " updated_at = excluded.updated_at"

    async def set_hidden(self, user_id: int, hidden: bool, now: int) -> None:
        await self._db.execute(self._upsert("hidden"), (user_id, int(hidden), now))

    async def set_last_seen(self, user_id: int, at: int) -> None:
        await self._db.execute(self._upsert("last_seen"), (user_id, at, at))

    async def hidden(self, user_id: int) -> bool:
        value = await self._db.fetch_val(
            "SELECT hidden FROM user_presence WHERE user_id = ?", (user_id,)
        )
        return bool(value)

    async def of_users(self, ids: Iterable[int]) -> dict[int, tuple[bool, int]]:
        """user id -> (hidden, last_seen) for the ids that have a row."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = await self._db.fetch_all(
            "SELECT user_id, hidden, last_seen FROM user_presence WHERE user_id IN"
            f" ({', '.join('?' for _ in wanted)})",
            wanted,
        )
        return {int(r["user_id"]): (bool(r["hidden"]), int(r["last_seen"])) for r in rows}
