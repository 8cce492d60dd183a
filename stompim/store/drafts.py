"""Per-user conversation state that only that user sees: drafts (`chat_draft`) and
pins (`chat_cursor.pinned_at`)."""

from __future__ import annotations

from collections.abc import Iterable

from stompim.store.conversations import cursor_upsert_sql
from stompim.store.database import Database

__all__ = ["DraftRepository"]


class DraftRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, conversation_id: int, user_id: int, content: str, now: int) -> None:
        if not content:
            await self._db.execute(
                "DELETE FROM chat_draft WHERE conversation_id = ? AND user_id = ?",
                (conversation_id, user_id),
            )
            return
        head = ("INSERT INTO chat_draft (conversation_id, user_id, content, updated_at)"
                " VALUES (?, ?, ?, ?)")
        if self._db.dialect == "mysql":
            sql = (f"{head} ON DUPLICATE KEY UPDATE content = VALUES(content),"
                   " updated_at = VALUES(updated_at)")
        else:
            sql = (f"{head} ON CONFLICT (conversation_id, user_id) DO UPDATE SET"
                   " content = excluded.content, updated_at = excluded.updated_at")
        await self._db.execute(sql, (conversation_id, user_id, content, now))

    async def of_user(
        self, user_id: int, conversation_ids: Iterable[int] | None = None
    ) -> dict[int, tuple[str, int]]:
        """conversation id -> (content, updated_at) of the user's drafts."""
        sql = "SELECT conversation_id, content, updated_at FROM chat_draft WHERE user_id = ?"
        params: list[object] = [user_id]
        if conversation_ids is not None:
            wanted = sorted(set(conversation_ids))
            if not wanted:
                return {}
            sql += f" AND conversation_id IN ({', '.join('?' for _ in wanted)})"
            params += wanted
        rows = await self._db.fetch_all(sql, params)
        return {int(r["conversation_id"]): (str(r["content"]), int(r["updated_at"]))
                for r in rows}

    async def set_pinned(self, conversation_id: int, user_id: int, pinned_at: int,
                         now: int) -> None:
        """Pin (`pinned_at` > 0) or unpin (0)."""
        await self._db.execute(
            cursor_upsert_sql(self._db.dialect), (conversation_id, user_id, 0, 0, now)
        )
        await self._db.execute(
            "UPDATE chat_cursor SET pinned_at = ?, updated_at = ?"
            " WHERE conversation_id = ? AND user_id = ?",
            (pinned_at, now, conversation_id, user_id),
        )

    async def pinned(self, user_id: int) -> dict[int, int]:
        """conversation id -> pinned_at of the user's pinned conversations."""
        rows = await self._db.fetch_all(
            "SELECT conversation_id, pinned_at FROM chat_cursor"
            " WHERE user_id = ? AND pinned_at > 0",
            (user_id,),
        )
        return {int(r["conversation_id"]): int(r["pinned_at"]) for r in rows}
