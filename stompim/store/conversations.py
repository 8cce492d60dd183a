"""Conversations and per-member read cursors (tables chat_conversation, chat_cursor).

A conversation is a pair of users (`pair_key` "p:<low>:<high>") or a group
("g:<groupId>"); `pair_key` is unique so two racing first messages create one
row. `last_seq` is advanced by MessageRepository.append in the same transaction
as the message insert. A cursor row (conversation_id, user_id) holds what one
member has read (`read_seq`), what they hid (`hidden_seq`: the conversation is
listed again once last_seq passes it), a do-not-disturb flag, and the group
join time its baseline was computed for (`joined_at`, 0 for private chats).

Private conversations get both cursor rows when created. Group cursor rows are
created lazily (on first send, read, or listing), so a 10,000-member group costs
nothing per member until a member shows up. Dialect branches live only here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stompim.store.database import Database
from stompim.store.records import ChatType


@dataclass(frozen=True)
class ConversationRecord:
    id: int
    chat_type: ChatType
    user_a: int | None  # private: the lower user id
    user_b: int | None  # private: the higher user id
    group_id: int | None
    last_seq: int
    created_at: int
    updated_at: int

    def has_participant(self, user_id: int) -> bool:
        return user_id in (self.user_a, self.user_b)

    def peer_of(self, user_id: int) -> int:
        """The other user of a private conversation."""
        return int(self.user_b if user_id == self.user_a else self.user_a)  # type: ignore[arg-type]

    def target_for(self, user_id: int) -> int:
        """What the front end calls targetId: the peer, or the group."""
        if self.chat_type is ChatType.GROUP:
            return int(self.group_id)  # type: ignore[arg-type]
        return self.peer_of(user_id)


@dataclass(frozen=True)
class CursorRecord:
    conversation_id: int
    user_id: int
    read_seq: int
    hidden_seq: int
    muted: bool
    joined_at: int


def pair_key(a: int, b: int) -> str:
    low, high = sorted((a, b))
    return f"p:{low}:{high}"


def _conv(row: dict[str, Any]) -> ConversationRecord:
    return ConversationRecord(
        id=int(row["id"]),
        chat_type=ChatType(int(row["chat_type"])),
        user_a=None if row["user_a"] is None else int(row["user_a"]),
        user_b=None if row["user_b"] is None else int(row["user_b"]),
        group_id=None if row["group_id"] is None else int(row["group_id"]),
        last_seq=int(row["last_seq"]),
        created_at=int(row["created_at"]),
        updated_at=int(row["updated_at"]),
    )


def _cursor(row: dict[str, Any]) -> CursorRecord:
    return CursorRecord(
        conversation_id=int(row["conversation_id"]),
        user_id=int(row["user_id"]),
        read_seq=int(row["read_seq"]),
        hidden_seq=int(row["hidden_seq"]),
        muted=bool(row["muted"]),
        joined_at=int(row["joined_at"]),
    )


_CONV_COLS = "id, chat_type, user_a, user_b, group_id, last_seq, created_at, updated_at"


@dataclass(frozen=True)
class ListedConversation:
    """A conversation as one user sees it in the list (cursor fields None if no row yet)."""

    conversation: ConversationRecord
    cursor: CursorRecord | None


def cursor_upsert_sql(dialect: str, rows: int = 1) -> str:
    """INSERT cursors or move existing ones forward (never backwards).

    Parameters, per row: conversation_id, user_id, read_seq, joined_at, updated_at.
    """
    values = ", ".join("(?, ?, ?, 0, 0, ?, ?)" for _ in range(rows))
    head = (
        "INSERT INTO chat_cursor (conversation_id, user_id, read_seq, hidden_seq, muted,"
        f" joined_at, updated_at) VALUES {values}"
    )
    if dialect == "mysql":
        return (
            f"{head} ON DUPLICATE KEY UPDATE read_seq = GREATEST(read_seq, VALUES(read_seq)),"
            " updated_at = VALUES(updated_at)"
        )
    return (
        f"{head} ON CONFLICT (conversation_id, user_id) DO UPDATE SET"
        " read_seq = MAX(read_seq, excluded.read_seq), updated_at = excluded.updated_at"
    )


class ConversationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _insert_ignore(self) -> str:
        return "INSERT IGNORE INTO" if self._db.dialect == "mysql" else "INSERT OR IGNORE INTO"

    async def get(self, conversation_id: int) -> ConversationRecord | None:
        row = await self._db.fetch_one(
            f"SELECT {_CONV_COLS} FROM chat_conversation WHERE id = ?", (conversation_id,)
        )
        return _conv(row) if row else None

    async def by_key(self, key: str) -> ConversationRecord | None:
        row = await self._db.fetch_one(
            f"SELECT {_CONV_COLS} FROM chat_conversation WHERE pair_key = ?", (key,)
        )
        return _conv(row) if row else None

    async def by_keys(self, keys: Iterable[str]) -> dict[str, ConversationRecord]:
        """Conversations by many `pair_key`s ("p:<low>:<high>", "g:<groupId>"), one query."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        rows = await self._db.fetch_all(
            f"SELECT {_CONV_COLS}, pair_key FROM chat_conversation WHERE pair_key IN"
            f" ({', '.join('?' for _ in wanted)})",
            wanted,
        )
        return {str(r["pair_key"]): _conv(r) for r in rows}

    async def private_between(self, a: int, b: int) -> ConversationRecord | None:
        return await self.by_key(pair_key(a, b))

    async def of_group(self, group_id: int) -> ConversationRecord | None:
        return await self.by_key(f"g:{group_id}")

    async def ensure_private(self, a: int, b: int, now: int) -> ConversationRecord:
        """The pair's conversation, created (with both cursor rows) on first use."""
        found = await self.private_between(a, b)
        if found:
            return found
        low, high = sorted((a, b))
        await self._db.execute(
            f"{self._insert_ignore()} chat_conversation (chat_type, user_a, user_b, group_id,"
            " pair_key, last_seq, created_at, updated_at) VALUES (?, ?, ?, NULL, ?, 0, ?, ?)",
            (int(ChatType.PRIVATE), low, high, pair_key(a, b), now, now),
        )
        conv = await self.private_between(a, b)
        assert conv is not None
        await self._db.executemany(
            f"{self._insert_ignore()} chat_cursor (conversation_id, user_id, read_seq,"
            " hidden_seq, muted, joined_at, updated_at) VALUES (?, ?, 0, 0, 0, 0, ?)",
            [(conv.id, low, now), (conv.id, high, now)],
        )
        return conv

    async def ensure_group(self, group_id: int, now: int) -> ConversationRecord:
        found = await self.of_group(group_id)
        if found:
            return found
        await self._db.execute(
            f"{self._insert_ignore()} chat_conversation (chat_type, user_a, user_b, group_id,"
            " pair_key, last_seq, created_at, updated_at) VALUES (?, NULL, NULL, ?, ?, 0, ?, ?)",
            (int(ChatType.GROUP), group_id, f"g:{group_id}", now, now),
        )
        conv = await self.of_group(group_id)
        assert conv is not None
        return conv

    async def cursor(self, conversation_id: int, user_id: int) -> CursorRecord | None:
        row = await self._db.fetch_one(
            "SELECT conversation_id, user_id, read_seq, hidden_seq, muted, joined_at"
            " FROM chat_cursor WHERE conversation_id = ? AND user_id = ?",
            (conversation_id, user_id),
        )
        return _cursor(row) if row else None

    async def read_seqs(self, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
        """read_seq of many (conversation_id, user_id) cursors, one query (absent: none)."""
        if not pairs:
            return {}
        where = " OR ".join("(conversation_id = ? AND user_id = ?)" for _ in pairs)
        rows = await self._db.fetch_all(
            f"SELECT conversation_id, user_id, read_seq FROM chat_cursor WHERE {where}",
            [v for pair in pairs for v in pair],
        )
        return {(int(r["conversation_id"]), int(r["user_id"])): int(r["read_seq"]) for r in rows}

    async def rebase_cursor(
        self, conversation_id: int, user_id: int, baseline: int, joined_at: int, now: int
    ) -> None:
        """Create a group member's cursor at `baseline`, or lift an older one to it.

        Called when the member's join time is newer than what the cursor knows
        (no row yet, or they left and joined again): messages before the join
        must not count as unread.
        """
        await self._db.execute(
            f"{self._insert_ignore()} chat_cursor (conversation_id, user_id, read_seq,"
            " hidden_seq, muted, joined_at, updated_at) VALUES (?, ?, ?, 0, 0, ?, ?)",
            (conversation_id, user_id, baseline, joined_at, now),
        )
        greatest = "GREATEST" if self._db.dialect == "mysql" else "MAX"
        await self._db.execute(
            f"UPDATE chat_cursor SET read_seq = {greatest}(read_seq, ?), joined_at = ?,"
            " updated_at = ? WHERE conversation_id = ? AND user_id = ? AND joined_at < ?",
            (baseline, joined_at, now, conversation_id, user_id, joined_at),
        )

    async def advance_read(
        self, conversation_id: int, user_id: int, seq: int, now: int, joined_at: int = 0
    ) -> int:
        """Move the cursor to `seq` unless it is already further; returns the cursor."""
        await self._db.execute(
            cursor_upsert_sql(self._db.dialect), (conversation_id, user_id, seq, joined_at, now)
        )
        value = await self._db.fetch_val(
            "SELECT read_seq FROM chat_cursor WHERE conversation_id = ? AND user_id = ?",
            (conversation_id, user_id),
        )
        return int(value or 0)

    async def hide(self, conversation_id: int, user_id: int, seq: int, now: int) -> None:
        """Hide up to `seq` (and count it read); a later message shows it again."""
        greatest = "GREATEST" if self._db.dialect == "mysql" else "MAX"
        await self._db.execute(
            cursor_upsert_sql(self._db.dialect), (conversation_id, user_id, seq, 0, now)
        )
        await self._db.execute(
            f"UPDATE chat_cursor SET hidden_seq = {greatest}(hidden_seq, ?)"
            " WHERE conversation_id = ? AND user_id = ?",
            (seq, conversation_id, user_id),
        )

    async def set_muted(self, conversation_id: int, user_id: int, muted: bool, now: int) -> None:
        await self._db.execute(
            cursor_upsert_sql(self._db.dialect), (conversation_id, user_id, 0, 0, now)
        )
        await self._db.execute(
            "UPDATE chat_cursor SET muted = ? WHERE conversation_id = ? AND user_id = ?",
            (1 if muted else 0, conversation_id, user_id),
        )

    async def visible_for(
        self,
        user_id: int,
        group_ids: Iterable[int],
        *,
        before: tuple[int, int] | None = None,
        limit: int | None = None,
        only_unread: bool = False,
    ) -> list[ListedConversation]:
        """The user's conversations that are not hidden, newest activity first.

        `before` = (updated_at, id) of the last row of the previous page (keyset).
        Private conversations are found by participant columns, group ones by the
        caller's current group ids (membership lives with the groups service).
        """
        groups = sorted({int(g) for g in group_ids})
        where = ["(c.chat_type = ? AND (c.user_a = ? OR c.user_b = ?))"]
        params: list[Any] = [user_id, int(ChatType.PRIVATE), user_id, user_id]
        if groups:
            where.append(f"(c.chat_type = ? AND c.group_id IN ({', '.join('?' * len(groups))}))")
            params.append(int(ChatType.GROUP))
            params.extend(groups)
        sql = (
            f"SELECT c.id, c.chat_type, c.user_a, c.user_b, c.group_id, c.last_seq,"
            " c.created_at, c.updated_at, cur.conversation_id AS cur_conv, cur.read_seq,"
            " cur.hidden_seq, cur.muted, cur.joined_at"
            " FROM chat_conversation c LEFT JOIN chat_cursor cur"
            " ON cur.conversation_id = c.id AND cur.user_id = ?"
            f" WHERE ({' OR '.join(where)}) AND c.last_seq > COALESCE(cur.hidden_seq, 0)"
        )
        if only_unread:
            sql += " AND c.last_seq > COALESCE(cur.read_seq, 0)"
        if before is not None:
            sql += " AND (c.updated_at < ? OR (c.updated_at = ? AND c.id < ?))"
            params.extend([before[0], before[0], before[1]])
        sql += " ORDER BY c.updated_at DESC, c.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._db.fetch_all(sql, params)
        out = []
        for row in rows:
            cur = None
            if row["cur_conv"] is not None:
                cur = CursorRecord(
                    conversation_id=int(row["id"]),
                    user_id=user_id,
                    read_seq=int(row["read_seq"]),
                    hidden_seq=int(row["hidden_seq"]),
                    muted=bool(row["muted"]),
                    joined_at=int(row["joined_at"]),
                )
            out.append(ListedConversation(_conv(row), cur))
        return out

    async def private_ids_of(self, user_id: int) -> list[int]:
        rows = await self._db.fetch_all(
            "SELECT id FROM chat_conversation WHERE chat_type = ? AND (user_a = ? OR user_b = ?)",
            (int(ChatType.PRIVATE), user_id, user_id),
        )
        return [int(r["id"]) for r in rows]

    async def get_many(self, ids: Sequence[int]) -> dict[int, ConversationRecord]:
        if not ids:
            return {}
        rows = await self._db.fetch_all(
            f"SELECT {_CONV_COLS} FROM chat_conversation WHERE id IN"
            f" ({', '.join('?' * len(ids))})",
            list(ids),
        )
        return {int(r["id"]): _conv(r) for r in rows}
