"""Private inboxes (stompim.store.messages): every private message takes the next place
of the sender's and of the recipient's inbox in the batch's own transaction, so one
user's places are 1, 2, 3... without holes and commit in order, whatever number of
writers (nodes) store at once. That is what makes the place an exact resume cursor."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from stompim.store.conversations import ConversationRepository
from stompim.store.database import Database, ExecResult, Tx
from stompim.store.messages import MessageRepository, NewMessage
from stompim.store.migrate import number_old_inboxes
from stompim.store.records import ChatType, MessageDraft

USERS = range(1, 7)


async def private(db: Database, sender: int, to: int, text: str, now: int = 1) -> NewMessage:
    conv = await ConversationRepository(db).ensure_private(sender, to, now)
    return NewMessage(conv.id, sender, ChatType.PRIVATE, to,
                      MessageDraft("text", text, None, None), now)


async def inbox(db: Database, user: int) -> list[tuple[int, int]]:
    rows = await db.fetch_all(
        "SELECT seq, message_id FROM chat_inbox_message WHERE user_id = ? ORDER BY seq",
        (user,))
    return [(int(r["seq"]), int(r["message_id"])) for r in rows]


async def test_places_are_contiguous_and_follow_commit_order_under_concurrent_writers(
        db: Database) -> None:
    """Three writers (as three nodes would) store 300 private messages among six users
    in batches of 1 to 20 at once: each user's places are 1..n, each message sits in both
    users' inboxes, and along one inbox the message ids grow (a place is taken under the
    counter's row lock, before the message's id exists)."""
    rng = random.Random(9)
    pairs = [tuple(rng.sample(list(USERS), 2)) for _ in range(300)]
    items = [await private(db, s, t, f"{n}") for n, (s, t) in enumerate(pairs)]
    batches: list[list[NewMessage]] = []
    while items:
        take = rng.randint(1, 20)
        batches.append(items[:take])
        items = items[take:]
    writers = [MessageRepository(db) for _ in range(3)]

    async def write(index: int) -> list[Any]:
        out = []
        for batch in batches[index::3]:
            out.extend(await writers[index].write_batch(batch))
        return out

    outcomes = [o for part in await asyncio.gather(*map(write, range(3))) for o in part]
    records = [o[0] for o in outcomes]
    assert len(records) == 300
    for user in USERS:
        places = await inbox(db, user)
        mine = [r for r in records if user in (r.sender_id, r.target_id)]
        assert [p for p, _ in places] == list(range(1, len(mine) + 1))
        ids = [m for _, m in places]
        assert ids == sorted(ids) and sorted(ids) == sorted(r.id for r in mine)
        assert {r.id: r.inbox_seq(user) for r in mine} == {m: p for p, m in places}
        head = await MessageRepository(db).inbox_head(user)
        assert head == len(mine)
        replayed = await MessageRepository(db).inbox_after(user, 3, 1000)
        assert [r.inbox_seq(user) for r in replayed] == list(range(4, len(mine) + 1))
        assert [r.id for r in replayed] == ids[3:]


class Paused:
    """A Database whose transactions stop before writing inbox entries until `go` is
    set (the message rows, and so their ids, exist by then; the counters are locked)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.dialect = db.dialect
        self.inside = asyncio.Event()
        self.go = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._db.transaction() as tx:
            yield _PausingTx(tx, self)


class _PausingTx:
    def __init__(self, tx: Tx, owner: Paused) -> None:
        self._tx = tx
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        if sql.startswith("INSERT INTO chat_inbox_message"):
            self._owner.inside.set()
            await asyncio.wait_for(self._owner.go.wait(), 10)
        return await self._tx.execute(sql, params)


@pytest.mark.mysql
async def test_a_second_writer_for_the_same_inbox_commits_after_the_first(
        mysql_db: Database) -> None:
    """Node A's batch holds message id n and the recipient's next place, uncommitted;
    node B's batch to the same recipient cannot take a place (or an id) before A
    commits, so B's message can never be delivered, and resumed past, ahead of A's."""
    db = mysql_db
    first = await private(db, 1, 3, "from A")
    second = await private(db, 2, 3, "from B")
    await MessageRepository(db).write_batch([await private(db, 4, 3, "earlier")])
    paused = Paused(db)
    node_a = asyncio.ensure_future(MessageRepository(paused).write_batch([first]))  # type: ignore[arg-type]
    await asyncio.wait_for(paused.inside.wait(), 10)
    node_b = asyncio.ensure_future(MessageRepository(db).write_batch([second]))
    done, _ = await asyncio.wait([node_b], timeout=0.5)
    assert not done                      # B waits on the recipient's counter row
    paused.go.set()
    [(a, _)] = await node_a
    [(b, _)] = await node_b
    assert (a.target_inbox_seq, b.target_inbox_seq) == (2, 3)
    assert a.id < b.id
    assert [p for p, _ in await inbox(db, 3)] == [1, 2, 3]


async def test_messages_stored_before_inboxes_keep_their_ids_as_places(db: Database) -> None:
    """The upgrade: private messages stored before chat_inbox existed get their id as
    their place in both inboxes (a seq a client saw then was the id), counters start at
    the highest, and the next message follows."""
    repo = MessageRepository(db)
    old = [o[0] for o in await repo.write_batch(
        [await private(db, 1, 2, "a"), await private(db, 3, 1, "b"),
         await private(db, 2, 3, "c")])]
    await db.execute("DELETE FROM chat_inbox_message")
    await db.execute("DELETE FROM chat_inbox")     # as a database of the earlier version
    assert await number_old_inboxes(db)
    assert not await number_old_inboxes(db)       # once
    assert await inbox(db, 1) == [(old[0].id, old[0].id), (old[1].id, old[1].id)]
    assert await repo.inbox_head(1) == old[1].id
    [(new, _)] = await MessageRepository(db).write_batch([await private(db, 2, 1, "new")])
    assert new.target_inbox_seq == old[1].id + 1
    assert new.sender_inbox_seq == old[2].id + 1
    since_old = await repo.inbox_after(1, old[0].id, 10)   # a cursor saved before
    assert [r.id for r in since_old] == [old[1].id, new.id]
