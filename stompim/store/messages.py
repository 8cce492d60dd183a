"""Stored chat messages (table chat_message) and the transactions that send them.

`append` is the heart of "persistence before acknowledgement": the message gets
its conversation's next `seq` (the UPDATE of `last_seq` locks the conversation
row, so seqs of one conversation are handed out one at a time and commit in
order), is inserted, and the sender's own cursor moves; only when the
transaction has committed does the caller receive the record.

Group commit: concurrent `append` calls are written together. The first call
starts a writer task; calls that arrive while a batch is being written wait in
the queue and form the next batch, written in ONE transaction (one commit, so
one log flush, for the whole batch). At low load a batch is a single message
and nothing waits for a timer; under load the commit cost is shared. Per batch:
one UPDATE moving every conversation's `last_seq` by its count of messages, one
SELECT of the new values, one multi-row INSERT (in queue order, so ids grow with
seqs), one SELECT of the new ids and one multi-row cursor upsert: five statements
per batch, whatever its size and whatever the group size.
The writer task ends when the queue is empty: an idle node holds no task.

A resent client message id never stores a second copy: (sender_id,
client_msg_id) is unique. `append` looks for the earlier copy first; if two
resends race (or meet in one batch), the batch fails on the unique key and its
messages are written again one transaction each, where the loser's INSERT fails,
its transaction (and seq) rolls back, and it returns the winner's row, marked
`duplicate`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
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


log = logging.getLogger("stompim.store.messages")

MAX_BATCH = 256
"""Messages written in one group-commit transaction at most."""

MAX_WRITERS = 4
"""Batches written at the same time (each on its own connection of the pool)."""


@dataclass(eq=False)
class _Pending:
    """One `append` waiting for its batch: what to store and who waits for it."""

    conversation_id: int
    sender_id: int
    chat_type: ChatType
    target_id: int
    draft: MessageDraft
    now: int
    sender_joined_at: int
    done: asyncio.Future[tuple[MessageRecord, bool]]
    seq: int = field(default=0)

    def record(self, message_id: int) -> MessageRecord:
        return MessageRecord(
            id=message_id,
            conversation_id=self.conversation_id,
            seq=self.seq,
            sender_id=self.sender_id,
            chat_type=self.chat_type,
            target_id=self.target_id,
            type=self.draft.type,
            content=self.draft.content,
            extra=self.draft.extra,
            client_msg_id=self.draft.client_msg_id,
            status=MessageStatus.NORMAL,
            created_at=self.now,
        )

    def row(self) -> tuple[Any, ...]:
        extra = orjson.dumps(self.draft.extra).decode() if self.draft.extra is not None else None
        return (
            self.conversation_id, self.seq, self.sender_id, int(self.chat_type), self.target_id,
            self.draft.type, self.draft.content, extra, self.draft.client_msg_id, self.now,
        )


_INSERT_HEAD = (
    "INSERT INTO chat_message (conversation_id, seq, sender_id, chat_type,"
    " target_id, msg_type, content, extra, client_msg_id, status, created_at)"
)


class MessageRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[_Pending] = []
        self._writers: set[asyncio.Task[None]] = set()

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
        """Store the message with the conversation's next seq; (record, duplicate).
        Returns once the transaction holding it has committed."""
        if draft.client_msg_id:
            earlier = await self.by_client_id(sender_id, draft.client_msg_id)
            if earlier:
                return earlier, True
        pending = _Pending(
            conversation_id, sender_id, chat_type, target_id, draft, now, sender_joined_at,
            asyncio.get_running_loop().create_future(),
        )
        self._queue.append(pending)
        if len(self._writers) < MAX_WRITERS:
            task = asyncio.get_running_loop().create_task(self._write_batches())
            self._writers.add(task)
            task.add_done_callback(self._writers.discard)
        return await pending.done

    async def _write_batches(self) -> None:
        """The writer: one batch per transaction until the queue is empty."""
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                ids = await self._write_batch(batch)
            except Exception as exc:
                if not isinstance(exc, IntegrityError):
                    log.warning("group commit of %d messages failed (%s); writing one by one",
                                len(batch), exc)
                await self._write_one_by_one(batch)
                continue
            for pending, message_id in zip(batch, ids):
                if not pending.done.done():
                    pending.done.set_result((pending.record(message_id), False))

    async def _write_batch(self, batch: list[_Pending]) -> list[int]:
        """Store `batch` in one transaction with five statements whatever its size;
        the message ids, in batch order."""
        counts: dict[int, int] = {}
        for pending in batch:
            counts[pending.conversation_id] = counts.get(pending.conversation_id, 0) + 1
        conversation_ids = sorted(counts)  # one lock order for every writer
        marks = ", ".join("?" for _ in conversation_ids)
        cases = " ".join("WHEN ? THEN ?" for _ in conversation_ids)
        async with self._db.transaction() as tx:
            await tx.execute(
                f"UPDATE chat_conversation SET last_seq = last_seq + CASE id {cases} END,"
                f" updated_at = ? WHERE id IN ({marks})",
                [v for cid in conversation_ids for v in (cid, counts[cid])]
                + [max(p.now for p in batch)] + conversation_ids,
            )
            rows = await tx.fetch_all(
                f"SELECT id, last_seq FROM chat_conversation WHERE id IN ({marks})",
                conversation_ids,
            )
            next_seq = {int(r["id"]): int(r["last_seq"]) - counts[int(r["id"])] + 1 for r in rows}
            cursors: dict[tuple[int, int], _Pending] = {}
            for pending in batch:
                pending.seq = next_seq[pending.conversation_id]
                next_seq[pending.conversation_id] += 1
                cursors[(pending.conversation_id, pending.sender_id)] = pending  # last wins
            values = ", ".join("(?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)" for _ in batch)
            await tx.execute(
                f"{_INSERT_HEAD} VALUES {values}", [v for p in batch for v in p.row()]
            )
            where = " OR ".join("(conversation_id = ? AND seq = ?)" for _ in batch)
            stored = await tx.fetch_all(
                f"SELECT id, conversation_id, seq FROM chat_message WHERE {where}",
                [v for p in batch for v in (p.conversation_id, p.seq)],
            )
            ids = {(int(r["conversation_id"]), int(r["seq"])): int(r["id"]) for r in stored}
            # own messages count as read by their sender
            await tx.execute(
                cursor_upsert_sql(self._db.dialect, rows=len(cursors)),
                [v for p in cursors.values()
                 for v in (p.conversation_id, p.sender_id, p.seq, p.sender_joined_at, p.now)],
            )
        return [ids[(p.conversation_id, p.seq)] for p in batch]

    async def _write_one_by_one(self, batch: list[_Pending]) -> None:
        for pending in batch:
            if pending.done.done():
                continue
            try:
                outcome = await self._append_one(pending)
            except Exception as exc:
                pending.done.set_exception(exc)
            else:
                pending.done.set_result(outcome)

    async def _append_one(self, pending: _Pending) -> tuple[MessageRecord, bool]:
        """One message in its own transaction (the fallback when a batch fails)."""
        try:
            ids = await self._write_batch([pending])
        except IntegrityError:
            client_msg_id = pending.draft.client_msg_id
            if client_msg_id:
                earlier = await self.by_client_id(pending.sender_id, client_msg_id)
                if earlier:
                    return earlier, True
            raise
        return pending.record(ids[0]), False

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
