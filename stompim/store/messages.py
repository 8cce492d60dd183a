"""Stored chat messages (table chat_message) and the transaction that sends them.

`write_batch` is the heart of "persistence before acknowledgement": each message
gets its conversation's next `seq` (the UPDATE of `last_seq` locks the
conversation rows, so seqs of one conversation are handed out one batch at a time
and commit in order), is inserted, and the sender's own cursor moves; only when
the transaction has committed does the caller receive the records.

One transaction per batch (stompim.im.chat_batch gathers concurrent sends into
batches): one UPDATE moving every conversation's `last_seq` by its count of
messages, one SELECT of the new values, one multi-row INSERT (in batch order, so
ids grow with seqs) that returns the new ids (MariaDB, SQLite; on MySQL a SELECT
of them follows) and one multi-row cursor upsert: four or five statements and one
commit (one log flush) per batch, whatever its size and whatever the group size; plus
one multi-row INSERT into the full-text index (stompim.store.search_index). The
transaction is a plan (stompim.store.plan): SQLite runs it in one hand-off to its thread.

Private inboxes: a private message also takes the next seq of the recipient's inbox
and of the sender's (table chat_inbox, one counter row per user; chat_inbox_message
maps (user, inbox seq) to the message). The counters move in the same UPDATE style
as `last_seq`, in the same transaction: the row lock makes a second writer (another
node) wait until the first commits, so one user's inbox seqs commit in increasing
order and a rolled back batch leaves no hole. That is what makes the inbox seq an
exact resume cursor for /queue/chat/<userId>, where message ids are not: MySQL hands
out ids at INSERT, so with several writers a lower id can commit after a higher one
was delivered. A batch with private messages costs two statements more (the counter
UPDATE, folded into the SELECT of `last_seq`, and one multi-row INSERT of entries);
counter rows are created on first use, outside the transaction, so the transaction
only locks rows that exist (no gap locks).

A resent client message id never stores a second copy: (sender_id,
client_msg_id) is unique. Callers look for earlier copies first
(`by_client_ids`) and give a batch each (sender, clientMsgId) once; if a resend
still races in from elsewhere (another node), the batch fails on the unique key.

One bad message never fails another: when a batch fails because of one of its
messages (a unique key, a value the database refuses: `StoreError`), it is split
in halves and each half written on its own, down to the single message at fault,
whose transaction (and seq) rolls back: a resend gets the winner's row, marked
`duplicate`; anything else gets its own error. k bad messages in n cost about
2k·log2(n) extra transactions. A database that is down (`Unavailable`) fails the
whole batch: the caller answers every message of it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from stompim.errors import DuplicateKey, NotFoundInStore, StoreError
from stompim.store.conversations import cursor_upsert_sql
from stompim.store.database import Database
from stompim.store.plan import Plan, Step, run_plan
from stompim.store.records import ChatType, MessageDraft, MessageRecord, MessageStatus
from stompim.store.search_index import index_statement, unindex_sql

_COLS = (
    "id, conversation_id, seq, sender_id, chat_type, target_id, msg_type, content, extra,"
    " client_msg_id, status, created_at, edited_at"
)
_M_COLS = ", ".join(f"m.{c.strip()}" for c in _COLS.split(","))


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
        edited_at=None if row["edited_at"] is None else int(row["edited_at"]),
    )


def _inbox_record(row: dict[str, Any], user_id: int) -> MessageRecord:
    """A row of an inbox read (`inbox_seq` is `user_id`'s place of the message)."""
    record = _record(row)
    seq = int(row["inbox_seq"])
    if user_id == record.target_id:
        return replace(record, target_inbox_seq=seq)
    return replace(record, sender_inbox_seq=seq)


MAX_REMEMBERED_INBOXES = 100_000
"""Users whose chat_inbox row is known to exist (per repository); starts over when full."""


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewMessage:
    """One message to store: where it goes, who sends it, what it says."""

    conversation_id: int
    sender_id: int
    chat_type: ChatType
    target_id: int
    draft: MessageDraft
    now: int
    sender_joined_at: int = 0  # group sends: the sender's join time, kept on the cursor

    def record(self, message_id: int, seq: int, inbox: tuple[int, int] = (0, 0)) -> MessageRecord:
        """The stored record; `inbox`: (sender's, recipient's) inbox seq."""
        return MessageRecord(
            id=message_id,
            conversation_id=self.conversation_id,
            seq=seq,
            sender_id=self.sender_id,
            chat_type=self.chat_type,
            target_id=self.target_id,
            type=self.draft.type,
            content=self.draft.content,
            extra=self.draft.extra,
            client_msg_id=self.draft.client_msg_id,
            status=MessageStatus.NORMAL,
            created_at=self.now,
            sender_inbox_seq=inbox[0],
            target_inbox_seq=inbox[1],
        )

    def row(self, seq: int) -> tuple[Any, ...]:
        extra = orjson.dumps(self.draft.extra).decode() if self.draft.extra is not None else None
        return (
            self.conversation_id, seq, self.sender_id, int(self.chat_type), self.target_id,
            self.draft.type, self.draft.content, extra, self.draft.client_msg_id, self.now,
        )


def _version(text: str) -> tuple[int, ...]:
    """"10.11.19-MariaDB-0+deb12u1" -> (10, 11, 19); "3.40.1" -> (3, 40, 1)."""
    head = text.split("-", 1)[0]
    return tuple(int(part) for part in head.split(".") if part.isdigit())


Stored = tuple[MessageRecord, bool]
"""(record, duplicate): duplicate means a resend met the copy stored earlier."""

_INSERT_HEAD = (
    "INSERT INTO chat_message (conversation_id, seq, sender_id, chat_type,"
    " target_id, msg_type, content, extra, client_msg_id, status, created_at)"
)

_HIDDEN_JOIN = " LEFT JOIN chat_hidden h ON h.user_id = ? AND h.message_id = m.id"
_VISIBLE = (
    " AND h.message_id IS NULL AND m.seq > COALESCE((SELECT cl.seq FROM chat_cleared cl"
    " WHERE cl.conversation_id = m.conversation_id AND cl.user_id = ?), 0)"
)
"""What one user sees of chat_message `m`: not deleted for them (the anti-join with
chat_hidden: one key lookup per row; a NOT EXISTS became a materialized set of all the
user's hidden ids per query on MariaDB, 10x slower), above their clear floor
(chat_cleared). Parameters: the user's id in the join, and again in the WHERE."""


class MessageRepository:
    def __init__(self, db: Database, *, insert_returning: bool | None = None) -> None:
        """`insert_returning`: None asks the server once whether it takes
        `INSERT ... RETURNING`; False forces the SELECT of the new ids (MySQL's way)."""
        self._db = db
        self._returning = insert_returning
        self._inboxes: set[int] = set()  # users whose chat_inbox row exists

    async def by_client_id(self, sender_id: int, client_msg_id: str) -> MessageRecord | None:
        row = await self._db.fetch_one(
            f"SELECT {_COLS} FROM chat_message WHERE sender_id = ? AND client_msg_id = ?",
            (sender_id, client_msg_id),
        )
        return _record(row) if row else None

    async def by_client_ids(
        self, keys: Iterable[tuple[int, str]]
    ) -> dict[tuple[int, str], MessageRecord]:
        """Stored messages for many (sender_id, client_msg_id) keys, in one query."""
        wanted = set(keys)
        if not wanted:
            return {}
        senders = sorted({s for s, _ in wanted})
        ids = sorted({c for _, c in wanted})
        rows = await self._db.fetch_all(
            f"SELECT {_COLS} FROM chat_message WHERE sender_id IN"
            f" ({', '.join('?' for _ in senders)}) AND client_msg_id IN"
            f" ({', '.join('?' for _ in ids)})",
            (*senders, *ids),
        )
        found = {(int(r["sender_id"]), str(r["client_msg_id"])): r for r in rows}
        return {key: _record(row) for key, row in found.items() if key in wanted}

    async def write_batch(self, items: Sequence[NewMessage]) -> list[Stored | StoreError]:
        """Store `items`; per item, in order, its record or the StoreError that refused it.

        Raises Unavailable when the database fails (nothing of the failing part is
        stored then; parts written before it, when a batch was split, are).
        """
        if not items:
            return []
        try:
            return list(await self._write(items))
        except StoreError as exc:
            if len(items) == 1:
                return [await self._after_refusal(items[0], exc)]
            log.info("batch of %d messages refused (%s); writing its halves apart",
                     len(items), exc)
        half = len(items) // 2
        return [*await self.write_batch(items[:half]), *await self.write_batch(items[half:])]

    async def _after_refusal(self, item: NewMessage, exc: StoreError) -> Stored | StoreError:
        """A resend that raced in gets the stored copy; any other refusal stays its own."""
        client_msg_id = item.draft.client_msg_id
        if isinstance(exc, DuplicateKey) and client_msg_id:
            earlier = await self.by_client_id(item.sender_id, client_msg_id)
            if earlier:
                return earlier, True
        return exc

    async def _insert_returning(self) -> bool:
        """Whether this server takes `INSERT ... RETURNING` (MariaDB 10.5+, SQLite 3.35+;
        not MySQL). Asked once."""
        if self._returning is None:
            if self._db.dialect == "sqlite":
                version = str(await self._db.fetch_val("SELECT sqlite_version()"))
                self._returning = _version(version) >= (3, 35)
            else:
                version = str(await self._db.fetch_val("SELECT VERSION()"))
                self._returning = "mariadb" in version.lower() and _version(version) >= (10, 5)
        return self._returning

    async def _ensure_inboxes(self, users: Sequence[int]) -> None:
        """Counter rows for `users` (created on first use, outside the batch's
        transaction, so that transaction only locks rows that exist)."""
        missing = [u for u in users if u not in self._inboxes]
        if not missing:
            return
        ignore = "INSERT IGNORE" if self._db.dialect == "mysql" else "INSERT OR IGNORE"
        await self._db.execute(
            f"{ignore} INTO chat_inbox (user_id, last_seq) VALUES"
            f" {', '.join('(?, 0)' for _ in missing)}",
            missing,
        )
        if len(self._inboxes) + len(missing) > MAX_REMEMBERED_INBOXES:
            self._inboxes.clear()
        self._inboxes.update(missing)

    async def _write(self, batch: Sequence[NewMessage]) -> list[Stored]:
        """The statements of one batch, in one transaction (`_plan`)."""
        inbox_users = sorted({
            user
            for item in batch if item.chat_type is ChatType.PRIVATE
            for user in (item.sender_id, item.target_id)
        })
        await self._ensure_inboxes(inbox_users)
        returning = await self._insert_returning()
        return await run_plan(self._db, self._plan(batch, returning))

    def _plan(self, batch: Sequence[NewMessage], returning: bool) -> Plan[list[Stored]]:
        """One batch's transaction as a plan (stompim.store.plan: on SQLite it runs on
        the connection's thread in one hand-off, so it touches nothing but its input)."""
        counts: dict[int, int] = {}
        inbox_counts: dict[int, int] = {}
        for item in batch:
            counts[item.conversation_id] = counts.get(item.conversation_id, 0) + 1
            if item.chat_type is ChatType.PRIVATE:
                for user in (item.sender_id, item.target_id):
                    inbox_counts[user] = inbox_counts.get(user, 0) + 1
        conversation_ids = sorted(counts)  # one lock order for every writer:
        users = sorted(inbox_counts)       # conversations, then inboxes, each by id
        marks = ", ".join("?" for _ in conversation_ids)
        cases = " ".join("WHEN ? THEN ?" for _ in conversation_ids)
        user_marks = ", ".join("?" for _ in users)
        dialect = self._db.dialect
        yield Step(
            f"UPDATE chat_conversation SET last_seq = last_seq + CASE id {cases} END,"
            f" updated_at = ? WHERE id IN ({marks})",
            [v for cid in conversation_ids for v in (cid, counts[cid])]
            + [max(item.now for item in batch)] + conversation_ids,
        )
        select = f"SELECT 0 AS k, id, last_seq FROM chat_conversation WHERE id IN ({marks})"
        params: list[Any] = list(conversation_ids)
        if users:
            user_cases = " ".join("WHEN ? THEN ?" for _ in users)
            yield Step(
                f"UPDATE chat_inbox SET last_seq = last_seq + CASE user_id {user_cases} END"
                f" WHERE user_id IN ({user_marks})",
                [v for u in users for v in (u, inbox_counts[u])] + users,
            )
            select += (
                " UNION ALL SELECT 1 AS k, user_id AS id, last_seq FROM chat_inbox"
                f" WHERE user_id IN ({user_marks})"
            )
            params += users
        rows = (yield Step(select, params, True)) or []
        next_seq = {
            int(r["id"]): int(r["last_seq"]) - counts[int(r["id"])] + 1
            for r in rows if int(r["k"]) == 0
        }
        next_inbox = {
            int(r["id"]): int(r["last_seq"]) - inbox_counts[int(r["id"])] + 1
            for r in rows if int(r["k"]) == 1
        }
        missing = set(counts) - set(next_seq)
        if missing:
            raise NotFoundInStore(f"no conversation rows {sorted(missing)}")
        if set(inbox_counts) - set(next_inbox):  # a row deleted since it was remembered
            self._inboxes = set()  # a new set, never a change to one the loop reads
            raise NotFoundInStore("no chat_inbox rows for some users")
        seqs: list[int] = []
        inboxes: list[tuple[int, int]] = []
        cursors: dict[tuple[int, int], tuple[NewMessage, int]] = {}
        for item in batch:
            seq = next_seq[item.conversation_id]
            next_seq[item.conversation_id] = seq + 1
            seqs.append(seq)
            if item.chat_type is ChatType.PRIVATE:
                own = next_inbox[item.sender_id]
                theirs = next_inbox[item.target_id]
                next_inbox[item.sender_id] = own + 1
                next_inbox[item.target_id] = theirs + 1
                inboxes.append((own, theirs))
            else:
                inboxes.append((0, 0))
            cursors[(item.conversation_id, item.sender_id)] = (item, seq)  # last wins
        values = ", ".join("(?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)" for _ in batch)
        rows_in = [v for item, seq in zip(batch, seqs, strict=False) for v in item.row(seq)]
        if returning:  # the new ids come back with the INSERT: one round trip less
            stored = (yield Step(
                f"{_INSERT_HEAD} VALUES {values} RETURNING id, conversation_id, seq", rows_in,
                True,
            )) or []
        else:
            yield Step(f"{_INSERT_HEAD} VALUES {values}", rows_in)
            where = " OR ".join("(conversation_id = ? AND seq = ?)" for _ in batch)
            stored = (yield Step(
                f"SELECT id, conversation_id, seq FROM chat_message WHERE {where}",
                [
                    v
                    for item, seq in zip(batch, seqs, strict=False)
                    for v in (item.conversation_id, seq)
                ],
                True,
            )) or []
        ids = {(int(r["conversation_id"]), int(r["seq"])): int(r["id"]) for r in stored}
        entries = [
            v
            for item, seq, (own, theirs) in zip(batch, seqs, inboxes, strict=True)
            if own
            for v in (
                item.sender_id, own, ids[(item.conversation_id, seq)],
                item.target_id, theirs, ids[(item.conversation_id, seq)],
            )
        ]
        if entries:
            yield Step(
                "INSERT INTO chat_inbox_message (user_id, seq, message_id) VALUES "
                + ", ".join("(?, ?, ?)" for _ in range(len(entries) // 3)),
                entries,
            )
        index = index_statement(dialect, [  # the full-text index (store.search)
            (ids[(item.conversation_id, seq)], item.conversation_id, item.draft.content)
            for item, seq in zip(batch, seqs, strict=False)
        ])
        if index is not None:
            yield Step(*index)
        # own messages count as read by their sender
        yield Step(
            cursor_upsert_sql(dialect, rows=len(cursors)),
            [
                v
                for item, seq in cursors.values()
                for v in (
                    item.conversation_id,
                    item.sender_id,
                    seq,
                    item.sender_joined_at,
                    item.now,
                )
            ],
        )
        return [
            (item.record(ids[(item.conversation_id, seq)], seq, inbox), False)
            for item, seq, inbox in zip(batch, seqs, inboxes, strict=True)
        ]

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
        viewer: int | None = None,
    ) -> list[MessageRecord]:
        """Keyset page by seq, always returned in ascending seq order.

        With `after_seq` only: the oldest `limit` after it (catching up). Otherwise
        the newest `limit` before `before_seq` (or the newest overall), optionally
        bounded below by `after_seq`. With `viewer`: only what that user sees (not
        deleted for them, above their clear floor).
        """
        # MariaDB/MySQL pick `ref` on the conversation alone here and walk every row
        # between the newest and `before_seq` (123 ms at seq 50,000 of 100,000 on
        # MariaDB 10.11, bench.timeline); forcing the unique key makes it a range on
        # (conversation_id, seq) that reads the page only (2.5 ms).
        force = " FORCE INDEX (uk_chat_message_seq)" if self._db.dialect == "mysql" else ""
        sql = f"SELECT {_M_COLS} FROM chat_message m{force}"
        params: list[Any] = []
        if viewer is not None:
            sql += _HIDDEN_JOIN
            params.append(viewer)
        sql += " WHERE m.conversation_id = ?"
        params.append(conversation_id)
        if viewer is not None:
            sql += _VISIBLE
            params.append(viewer)
        if before_seq is not None:
            sql += " AND m.seq < ?"
            params.append(before_seq)
        if after_seq is not None:
            sql += " AND m.seq > ?"
            params.append(after_seq)
        ascending = after_seq is not None and before_seq is None
        sql += " ORDER BY m.seq " + ("ASC" if ascending else "DESC") + " LIMIT ?"
        params.append(limit)
        rows = [_record(r) for r in await self._db.fetch_all(sql, params)]
        return rows if ascending else rows[::-1]

    async def inbox_after(self, user_id: int, since: int, limit: int) -> list[MessageRecord]:
        """The user's private messages (sent or received) after place `since` of their
        inbox, in inbox order, at most `limit`; each record carries that place
        (`inbox_seq(user_id)`). None the user deleted for themselves or cleared: their
        places are left out (a jump of the place the broker passes over)."""
        rows = await self._db.fetch_all(
            f"SELECT e.seq AS inbox_seq, {_M_COLS} FROM chat_inbox_message e"
            f" JOIN chat_message m ON m.id = e.message_id{_HIDDEN_JOIN}"
            f" WHERE e.user_id = ? AND e.seq > ?{_VISIBLE} ORDER BY e.seq ASC LIMIT ?",
            (user_id, user_id, since, user_id, limit),
        )
        return [_inbox_record(r, user_id) for r in rows]

    async def inbox_head(self, user_id: int) -> int:
        """The last place of the user's inbox committed so far (0: none yet)."""
        value = await self._db.fetch_val(
            "SELECT last_seq FROM chat_inbox WHERE user_id = ?", (user_id,)
        )
        return int(value or 0)

    async def last_seq_before(self, conversation_id: int, created_before: int) -> int:
        """The highest seq stored before a moment (0 if none): a new member's baseline."""
        value = await self._db.fetch_val(
            "SELECT MAX(seq) FROM chat_message WHERE conversation_id = ? AND created_at < ?",
            (conversation_id, created_before),
        )
        return int(value or 0)

    async def get_many(self, ids: Iterable[int]) -> dict[int, MessageRecord]:
        """Messages by id, one query (missing ids are absent)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = await self._db.fetch_all(
            f"SELECT {_COLS} FROM chat_message WHERE id IN ({', '.join('?' for _ in wanted)})",
            wanted,
        )
        return {int(r["id"]): _record(r) for r in rows}

    async def mark_recalled(self, message_id: int, now: int) -> bool:
        """Clear the content and flag the row (and take it out of the full-text index);
        False if it was already recalled."""
        async with self._db.transaction() as tx:
            await tx.execute(unindex_sql(self._db.dialect), (message_id,))
            result = await tx.execute(
                "UPDATE chat_message SET status = ?, content = '', extra = NULL, recalled_at = ?"
                " WHERE id = ? AND status = ?",
                (int(MessageStatus.RECALLED), now, message_id, int(MessageStatus.NORMAL)),
            )
        return result.rowcount > 0
