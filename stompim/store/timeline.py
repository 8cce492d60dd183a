"""What happens to stored messages after they are sent: edits, reactions, delete-for-me,
clear history, mentions and pins (tables chat_message_edit, chat_reaction, chat_hidden,
chat_cleared, chat_mention, chat_pin; the `edited_at` column of chat_message).

Nothing here copies a message: an edit rewrites the row's content and keeps every version
in chat_message_edit; "delete for me" is one row per (user, message) and "clear history"
one floor per (conversation, user), both read by MessageRepository's viewer filter; a
mention is one row per mentioned user (user 0 for @all), so a conversation's mention
count is a range count above the reader's read_seq, never a per-member counter.

Call order: stompim.im.message_actions (and stompim.im.timeline_refs for mentions) decides the
rights; this module only stores and reads. Dialect branches live here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stompim.store.database import Database
from stompim.store.messages import MessageRepository
from stompim.store.records import ChatType, MessageRecord

__all__ = ["ALL_MEMBERS", "PinRecord", "ReactionCount", "TimelineRepository"]

ALL_MEMBERS = 0
"""The user id of an @all mention row."""


@dataclass(frozen=True)
class ReactionCount:
    emoji: str
    count: int
    mine: bool


@dataclass(frozen=True)
class PinRecord:
    group_id: int
    message_id: int
    pinned_by: int
    pinned_at: int


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


class TimelineRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _ignore(self) -> str:
        return "INSERT IGNORE INTO" if self._db.dialect == "mysql" else "INSERT OR IGNORE INTO"

    # -- edits ----------------------------------------------------------------------

    async def edit(self, message_id: int, content: str, now: int) -> int | None:
        """Store `content` as the message's next version (the original kept as version
        0); the new version number, or None if the message is gone or recalled."""
        lock = " FOR UPDATE" if self._db.dialect == "mysql" else ""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                f"SELECT content, created_at FROM chat_message WHERE id = ? AND status = 0{lock}",
                (message_id,),
            )
            if row is None:
                return None
            last = await tx.fetch_val(
                "SELECT MAX(version) FROM chat_message_edit WHERE message_id = ?", (message_id,)
            )
            if last is None:
                await tx.execute(
                    "INSERT INTO chat_message_edit (message_id, version, content, edited_at)"
                    " VALUES (?, 0, ?, ?)",
                    (message_id, row["content"] or "", int(row["created_at"])),
                )
                last = 0
            version = int(last) + 1
            await tx.execute(
                "INSERT INTO chat_message_edit (message_id, version, content, edited_at)"
                " VALUES (?, ?, ?, ?)",
                (message_id, version, content, now),
            )
            await tx.execute(
                "UPDATE chat_message SET content = ?, edited_at = ? WHERE id = ?",
                (content, now, message_id),
            )
        return version

    async def versions(self, message_ids: Iterable[int]) -> dict[int, int]:
        """The current version of each edited message (absent: never edited)."""
        wanted = sorted(set(message_ids))
        if not wanted:
            return {}
        rows = await self._db.fetch_all(
            "SELECT message_id, MAX(version) AS v FROM chat_message_edit"
            f" WHERE message_id IN ({_marks(wanted)}) GROUP BY message_id",
            wanted,
        )
        return {int(r["message_id"]): int(r["v"]) for r in rows}

    async def edited_group(
        self, conversation_id: int, upto_seq: int, created_from: int, limit: int
    ) -> list[MessageRecord]:
        """Edited messages of a conversation with seq <= upto_seq sent at or after
        `created_from` (what a resuming client may have missed), oldest first."""
        return await self._edited(
            "conversation_id = ? AND seq <= ?", [conversation_id, upto_seq], created_from, limit
        )

    async def edited_private(
        self, user_id: int, upto_id: int, created_from: int, limit: int
    ) -> list[MessageRecord]:
        """The same for all of a user's private conversations, by message id."""
        return await self._edited(
            "conversation_id IN (SELECT id FROM chat_conversation WHERE chat_type = ?"
            " AND (user_a = ? OR user_b = ?)) AND id <= ?",
            [int(ChatType.PRIVATE), user_id, user_id, upto_id],
            created_from,
            limit,
        )

    async def _edited(
        self, where: str, params: list[Any], created_from: int, limit: int
    ) -> list[MessageRecord]:
        # the time bound is the narrow one (the edit window); MariaDB would rather walk
        # the conversation by (conversation_id) alone (see MessageRepository.page)
        force = " FORCE INDEX (idx_chat_message_created)" if self._db.dialect == "mysql" else ""
        ids = await self._db.fetch_all(
            f"SELECT id FROM chat_message{force} WHERE {where} AND edited_at IS NOT NULL"
            " AND status = 0 AND created_at >= ? ORDER BY id ASC LIMIT ?",
            [*params, created_from, limit],
        )
        found = await MessageRepository(self._db).get_many(int(r["id"]) for r in ids)
        return [found[k] for k in sorted(found)]

    async def inbox_message_at(self, user_id: int, upto_seq: int) -> tuple[int, int] | None:
        """(message id, created_at) of the message at the last place <= `upto_seq` of the
        user's private inbox (None: none there). One user's inbox places and message ids
        rise together (a batch inserts its messages in inbox order while it holds the
        user's chat_inbox row, stompim.store.messages), so "id <= that id" among the
        user's private messages is "inbox place <= upto_seq"."""
        row = await self._db.fetch_one(
            "SELECT m.id, m.created_at FROM chat_inbox_message e"
            " JOIN chat_message m ON m.id = e.message_id"
            " WHERE e.user_id = ? AND e.seq <= ? ORDER BY e.seq DESC LIMIT 1",
            (user_id, upto_seq),
        )
        return None if row is None else (int(row["id"]), int(row["created_at"]))

    async def created_at_of(self, where: str, params: Sequence[Any]) -> int | None:
        """created_at of the message `where` names (`seq` / `id` of a replay's since)."""
        value = await self._db.fetch_val(
            f"SELECT created_at FROM chat_message WHERE {where}", params
        )
        return None if value is None else int(value)

    # -- reactions ------------------------------------------------------------------

    async def add_reaction(self, message_id: int, user_id: int, emoji: str, now: int) -> bool:
        """False if the user had this reaction already."""
        result = await self._db.execute(
            f"{self._ignore()} chat_reaction (message_id, user_id, emoji, created_at)"
            " VALUES (?, ?, ?, ?)",
            (message_id, user_id, emoji, now),
        )
        return result.rowcount > 0

    async def remove_reaction(self, message_id: int, user_id: int, emoji: str) -> bool:
        result = await self._db.execute(
            "DELETE FROM chat_reaction WHERE message_id = ? AND user_id = ? AND emoji = ?",
            (message_id, user_id, emoji),
        )
        return result.rowcount > 0

    async def reactions_of_user(self, message_id: int, user_id: int) -> int:
        value = await self._db.fetch_val(
            "SELECT COUNT(*) FROM chat_reaction WHERE message_id = ? AND user_id = ?",
            (message_id, user_id),
        )
        return int(value or 0)

    async def reactions(
        self, message_ids: Iterable[int], viewer: int
    ) -> dict[int, list[ReactionCount]]:
        """Per message: each emoji with its count and whether `viewer` gave it, in the
        order the emojis were first given."""
        wanted = sorted(set(message_ids))
        if not wanted:
            return {}
        rows = await self._db.fetch_all(
            "SELECT message_id, emoji, COUNT(*) AS n,"
            " SUM(CASE WHEN user_id = ? THEN 1 ELSE 0 END) AS mine, MIN(created_at) AS first"
            f" FROM chat_reaction WHERE message_id IN ({_marks(wanted)})"
            " GROUP BY message_id, emoji ORDER BY message_id, MIN(created_at), emoji",
            [viewer, *wanted],
        )
        out: dict[int, list[ReactionCount]] = {}
        for r in rows:
            out.setdefault(int(r["message_id"]), []).append(
                ReactionCount(str(r["emoji"]), int(r["n"]), int(r["mine"] or 0) > 0)
            )
        return out

    async def reaction_count(self, message_id: int, emoji: str) -> int:
        value = await self._db.fetch_val(
            "SELECT COUNT(*) FROM chat_reaction WHERE message_id = ? AND emoji = ?",
            (message_id, emoji),
        )
        return int(value or 0)

    # -- delete for me, clear history -------------------------------------------------

    async def hide(
        self, user_id: int, conversation_id: int, message_ids: Sequence[int], now: int
    ) -> None:
        if message_ids:
            await self._db.executemany(
                f"{self._ignore()} chat_hidden (user_id, message_id, conversation_id,"
                " created_at) VALUES (?, ?, ?, ?)",
                [(user_id, mid, conversation_id, now) for mid in message_ids],
            )

    async def clear(self, conversation_id: int, user_id: int, seq: int, now: int) -> int:
        """Raise the user's floor to `seq` (never lowers it); returns the floor."""
        if self._db.dialect == "mysql":
            sql = (
                "INSERT INTO chat_cleared (conversation_id, user_id, seq, updated_at)"
                " VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE seq = GREATEST(seq, VALUES(seq)),"
                " updated_at = VALUES(updated_at)"
            )
        else:
            sql = (
                "INSERT INTO chat_cleared (conversation_id, user_id, seq, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (conversation_id, user_id) DO UPDATE SET"
                " seq = MAX(seq, excluded.seq), updated_at = excluded.updated_at"
            )
        await self._db.execute(sql, (conversation_id, user_id, seq, now))
        return await self.floor(conversation_id, user_id)

    async def floor(self, conversation_id: int, user_id: int) -> int:
        value = await self._db.fetch_val(
            "SELECT seq FROM chat_cleared WHERE conversation_id = ? AND user_id = ?",
            (conversation_id, user_id),
        )
        return int(value or 0)

    async def floors(self, user_id: int, conversation_ids: Sequence[int]) -> dict[int, int]:
        if not conversation_ids:
            return {}
        rows = await self._db.fetch_all(
            "SELECT conversation_id, seq FROM chat_cleared WHERE user_id = ?"
            f" AND conversation_id IN ({_marks(conversation_ids)})",
            [user_id, *conversation_ids],
        )
        return {int(r["conversation_id"]): int(r["seq"]) for r in rows}

    async def hidden_among(self, user_id: int, message_ids: Sequence[int]) -> set[int]:
        if not message_ids:
            return set()
        rows = await self._db.fetch_all(
            "SELECT message_id FROM chat_hidden WHERE user_id = ?"
            f" AND message_id IN ({_marks(message_ids)})",
            [user_id, *message_ids],
        )
        return {int(r["message_id"]) for r in rows}

    # -- mentions -------------------------------------------------------------------

    async def add_mentions(
        self, conversation_id: int, seq: int, message_id: int, user_ids: Iterable[int]
    ) -> None:
        rows = [(conversation_id, uid, seq, message_id) for uid in sorted(set(user_ids))]
        if rows:
            await self._db.executemany(
                f"{self._ignore()} chat_mention (conversation_id, user_id, seq, message_id)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )

    async def remove_mentions(self, conversation_id: int, seq: int) -> None:
        await self._db.execute(
            "DELETE FROM chat_mention WHERE conversation_id = ? AND seq = ?",
            (conversation_id, seq),
        )

    async def mention_counts(
        self, user_id: int, read: Sequence[tuple[int, int]]
    ) -> dict[int, int]:
        """For (conversation_id, read_seq) pairs: mentions of the user (or @all) after
        read_seq, one query; conversations without any are absent."""
        if not read:
            return {}
        where = " OR ".join("(conversation_id = ? AND seq > ?)" for _ in read)
        rows = await self._db.fetch_all(
            "SELECT conversation_id, COUNT(*) AS n FROM chat_mention"
            f" WHERE user_id IN (?, ?) AND ({where}) GROUP BY conversation_id",
            [user_id, ALL_MEMBERS, *(v for pair in read for v in pair)],
        )
        return {int(r["conversation_id"]): int(r["n"]) for r in rows}

    # -- pins -----------------------------------------------------------------------

    async def pin(self, group_id: int, message_id: int, user_id: int, now: int) -> bool:
        result = await self._db.execute(
            f"{self._ignore()} chat_pin (group_id, message_id, pinned_by, pinned_at)"
            " VALUES (?, ?, ?, ?)",
            (group_id, message_id, user_id, now),
        )
        return result.rowcount > 0

    async def unpin(self, group_id: int, message_id: int) -> bool:
        result = await self._db.execute(
            "DELETE FROM chat_pin WHERE group_id = ? AND message_id = ?", (group_id, message_id)
        )
        return result.rowcount > 0

    async def pins(self, group_id: int) -> list[PinRecord]:
        rows = await self._db.fetch_all(
            "SELECT group_id, message_id, pinned_by, pinned_at FROM chat_pin WHERE group_id = ?"
            " ORDER BY pinned_at DESC, message_id DESC",
            (group_id,),
        )
        return [
            PinRecord(int(r["group_id"]), int(r["message_id"]), int(r["pinned_by"]),
                      int(r["pinned_at"]))
            for r in rows
        ]

    async def pin_count(self, group_id: int) -> int:
        value = await self._db.fetch_val(
            "SELECT COUNT(*) FROM chat_pin WHERE group_id = ?", (group_id,)
        )
        return int(value or 0)
