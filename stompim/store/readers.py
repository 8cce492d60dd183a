"""Who has read a group message, from the read cursors (chat_cursor) alone.

No row per member per message exists (DESIGN.md "IM data model"): a member has read
the message at `seq` when their cursor's `read_seq >= seq`. Only members who had
joined when the message was sent count (a later member's cursor starts past it, but
they never saw it arrive), and never its sender. The queries join chat_cursor with
the active rows of group_member; both are indexed by their primary keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from stompim.store.database import Database


@dataclass(frozen=True)
class Reader:
    user_id: int
    read_seq: int


_ELIGIBLE = (
    " FROM group_member m LEFT JOIN chat_cursor c"
    " ON c.conversation_id = ? AND c.user_id = m.user_id"
    " WHERE m.group_id = ? AND m.status = 1 AND m.user_id <> ? AND m.joined_at <= ?"
)


class ReaderRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def counts(
        self, conversation_id: int, group_id: int, sender_id: int, sent_at: int, seq: int
    ) -> tuple[int, int]:
        """(members who could read it, members who did) for the message at `seq`."""
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS members,"
            " COALESCE(SUM(CASE WHEN c.read_seq >= ? THEN 1 ELSE 0 END), 0) AS done"
            + _ELIGIBLE,
            (seq, conversation_id, group_id, sender_id, sent_at),
        )
        assert row is not None
        return int(row["members"]), int(row["done"])

    async def readers(
        self, conversation_id: int, group_id: int, sender_id: int, sent_at: int, seq: int,
        limit: int,
    ) -> list[Reader]:
        """The first `limit` readers by user id."""
        rows = await self._db.fetch_all(
            "SELECT m.user_id, c.read_seq" + _ELIGIBLE
            + " AND c.read_seq >= ? ORDER BY m.user_id LIMIT ?",
            (conversation_id, group_id, sender_id, sent_at, seq, limit),
        )
        return [Reader(int(r["user_id"]), int(r["read_seq"])) for r in rows]

    async def cursors(
        self, conversation_id: int, group_id: int, limit: int
    ) -> list[tuple[int, int, int]]:
        """(user_id, joined_at, read_seq) of at most `limit` active members (read_seq 0
        without a cursor): for the read counts of small groups, computed in memory."""
        rows = await self._db.fetch_all(
            "SELECT m.user_id, m.joined_at, COALESCE(c.read_seq, 0) AS read_seq"
            " FROM group_member m LEFT JOIN chat_cursor c"
            " ON c.conversation_id = ? AND c.user_id = m.user_id"
            " WHERE m.group_id = ? AND m.status = 1 ORDER BY m.user_id LIMIT ?",
            (conversation_id, group_id, limit),
        )
        return [(int(r["user_id"]), int(r["joined_at"]), int(r["read_seq"])) for r in rows]
