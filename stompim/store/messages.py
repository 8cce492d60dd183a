"""Stored chat messages (table chat_message) and the one transaction that sends one.

`append` is the heart of "persistence before acknowledgement": inside one
transaction it advances the conversation's `last_seq` (the UPDATE locks the
conversation row, so seqs of one conversation are handed out one at a time and
commit in order), inserts the message with that seq, and moves the sender's
own cursor. Three writes, whatever the size of the group. Only when the
transaction has committed does the caller receive the record.

A resent client message id never stores a second copy: (sender_id,
client_msg_id) is unique. `append` looks for the earlier copy first; if two
resends race, the loser's INSERT fails, its transaction (and seq) rolls back,
and it returns the winner's row, marked `duplicate`.
"""

from __future__ import annotations

from typing import Any

import orjson

from stompim.im.messages import ChatType, MessageDraft, MessageRecord, MessageStatus
from stompim.store.conversations import cursor_upsert_sql
from stompim.store.database import Database, IntegrityError

_COLS = (
    "id, conversation_id, seq, sender_id, chat_type, target_id, msg_type, content, extra,"
    " client_msg_id, status, created_at"
)


def _record(row: dict[str, Any]) -> MessageRecord:
    extra = row["extra"]
    return MessageRecord(
        id=int(row["id"]),
        conversation_id=int(row["conversation_id"]),
        seq=int(row["seq"]),
        sender_id=int(row["sender_id"]),
        chat_type=ChatType(int(row["chat_type"])),
        target_id=int(row["target_id"]),
        type=str(row["msg_type"]),
        content=row["content"] or "",
        extra=orjson.loads(extra) if extra else None,
        client_msg_id=row["client_msg_id"],
        status=MessageStatus(int(row["status"])),
        created_at=int(row["created_at"]),
    )


class MessageRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def by_client_id(self, sender_id: int, client_msg_id: str) -> MessageRecord | None:
        row = await self._db.fetch_one(
            f"SELECT {_COLS} FROM chat_message WHERE sender_id = ? AND client_msg_id = ?",
            (sender_id, client_msg_id),
        )
        return _record(row) if row else None

    async def append(
        self,
        *,
        conversation_id: int,
        sender_id: int,
        chat_type: ChatType,
        target_id: int,
        draft: MessageDraft,
        now: int,
        sender_joined_at: int = 0,
    ) -> tuple[MessageRecord, bool]:
        """Store the message with the conversation's next seq; (record, duplicate)."""
        if draft.client_msg_id:
            earlier = await self.by_client_id(sender_id, draft.client_msg_id)
            if earlier:
                return earlier, True
        extra = orjson.dumps(draft.extra).decode() if draft.extra is not None else None
        try:
            async with self._db.transaction() as tx:
                await tx.execute(
                    "UPDATE chat_conversation SET last_seq = last_seq + 1, updated_at = ?"
                    " WHERE id = ?",
                    (now, conversation_id),
                )
                seq = int(
                    await tx.fetch_val(
                        "SELECT last_seq FROM chat_conversation WHERE id = ?", (conversation_id,)
                    )
                )
                result = await tx.execute(
                    "INSERT INTO chat_message (conversation_id, seq, sender_id, chat_type,"
                    " target_id, msg_type, content, extra, client_msg_id, status, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                    (
                        conversation_id, seq, sender_id, int(chat_type), target_id, draft.type,
                        draft.content, extra, draft.client_msg_id, now,
                    ),
                )
                # own messages count as read by their sender
                await tx.execute(
                    cursor_upsert_sql(self._db.dialect),
                    (conversation_id, sender_id, seq, sender_joined_at, now),
                )
        except IntegrityError:
            if draft.client_msg_id:
                earlier = await self.by_client_id(sender_id, draft.client_msg_id)
                if earlier:
                    return earlier, True
            raise
        record = MessageRecord(
            id=int(result.lastrowid or 0),
            conversation_id=conversation_id,
            seq=seq,
            sender_id=sender_id,
            chat_type=chat_type,
            target_id=target_id,
            type=draft.type,
            content=draft.content,
            extra=draft.extra,
            client_msg_id=draft.client_msg_id,
            status=MessageStatus.NORMAL,
            created_at=now,
        )
        return record, False

    async def get(self, message_id: int) -> MessageRecord | None:
        row = await self._db.fetch_one(
            f"SELECT {_COLS} FROM chat_message WHERE id = ?", (message_id,)
        )
        return _record(row) if row else None

    async def at_seqs(self, pairs: list[tuple[int, int]]) -> dict[int, MessageRecord]:
        """The messages at (conversation_id, seq) pairs, keyed by conversation id."""
        if not pairs:
            return {}
        where = " OR ".join("(conversation_id = ? AND seq = ?)" for _ in pairs)
        params = [v for pair in pairs for v in pair]
        rows = await self._db.fetch_all(f"SELECT {_COLS} FROM chat_message WHERE {where}", params)
        return {int(r["conversation_id"]): _record(r) for r in rows}

    async def page(
        self,
        conversation_id: int,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int = 20,
    ) -> list[MessageRecord]:
        """Keyset page by seq, always returned in ascending seq order.

        With `after_seq` only: the oldest `limit` after it (catching up). Otherwise
        the newest `limit` before `before_seq` (or the newest overall), optionally
        bounded below by `after_seq`.
        """
        sql = f"SELECT {_COLS} FROM chat_message WHERE conversation_id = ?"
        params: list[Any] = [conversation_id]
        if before_seq is not None:
            sql += " AND seq < ?"
            params.append(before_seq)
        if after_seq is not None:
            sql += " AND seq > ?"
            params.append(after_seq)
        ascending = after_seq is not None and before_seq is None
        sql += " ORDER BY seq " + ("ASC" if ascending else "DESC") + " LIMIT ?"
        params.append(limit)
        rows = [_record(r) for r in await self._db.fetch_all(sql, params)]
        return rows if ascending else rows[::-1]

    async def private_after_id(self, user_id: int, since_id: int, limit: int) -> list[MessageRecord]:
        """All the user's private messages (sent or received) with id > since_id, by id."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLS} FROM chat_message WHERE conversation_id IN"
            " (SELECT id FROM chat_conversation WHERE chat_type = ? AND (user_a = ? OR user_b = ?))"
            " AND id > ? ORDER BY id ASC LIMIT ?",
            (int(ChatType.PRIVATE), user_id, user_id, since_id, limit),
        )
        return [_record(r) for r in rows]

    async def last_seq_before(self, conversation_id: int, created_before: int) -> int:
        """The highest seq stored before a moment (0 if none): a new member's baseline."""
        value = await self._db.fetch_val(
            "SELECT MAX(seq) FROM chat_message WHERE conversation_id = ? AND created_at < ?",
            (conversation_id, created_before),
        )
        return int(value or 0)

    async def mark_recalled(self, message_id: int, now: int) -> bool:
        """Clear the content and flag the row; False if it was already recalled."""
        result = await self._db.execute(
            "UPDATE chat_message SET status = ?, content = '', extra = NULL, recalled_at = ?"
            " WHERE id = ? AND status = ?",
            (int(MessageStatus.RECALLED), now, message_id, int(MessageStatus.NORMAL)),
        )
        return result.rowcount > 0
