"""The chat writer's two stages (stompim.im.chat_batch): the next batch is prepared
(rights, conversations, clientMsgId) while the current one commits, on SQLite and
MariaDB, with the real social services and tables. Each test holds the first commit
at a gate until the overlap it checks has happened (events, not sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from test_chat_batch_commit import World, text

from stompim.errors import Unavailable
from stompim.im.chat import SendResult
from stompim.store.database import Database
from stompim.store.messages import NewMessage

WAIT_S = 10.0  # bound on every wait for an event: a hang fails the test, never blocks it


class GatedWrites:
    """Wraps the batcher's write_batch: the first call waits at `gate` until released
    (or fails with `fail_with`); every call's size is recorded."""

    def __init__(self, w: World, fail_with: BaseException | None = None) -> None:
        self.original = w.chat.batcher.messages.write_batch
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.sizes: list[int] = []
        self.fail_with = fail_with
        w.chat.batcher.messages.write_batch = self  # type: ignore[method-assign]

    async def __call__(self, items: Sequence[NewMessage]) -> list[Any]:
        self.sizes.append(len(items))
        if len(self.sizes) == 1:
            self.entered.set()
            await asyncio.wait_for(self.release.wait(), WAIT_S)
            if self.fail_with is not None:
                raise self.fail_with
        return await self.original(items)


def on_call(w: World, name: str, calls: int) -> asyncio.Event:
    """An event set once the batcher's `messages.<name>` or `facts.<name>` has been
    called `calls` times."""
    owner: Any = w.chat.batcher.messages if name == "by_client_ids" else w.chat.batcher.facts
    original = getattr(owner, name)
    seen = asyncio.Event()
    count = 0

    async def wrapped(*args: Any) -> Any:
        nonlocal count
        count += 1
        if count >= calls:
            seen.set()
        return await original(*args)

    setattr(owner, name, wrapped)
    return seen


async def test_the_next_batch_is_checked_while_the_current_one_commits(db: Database) -> None:
    w = World(db)
    alice, bob, carol = await w.user("alice"), await w.user("bob"), await w.user("carol")
    await w.befriend(alice, bob)
    await w.befriend(alice, carol)
    w.chat.batcher.max_batch = 2
    gate = GatedWrites(w)
    second_checked = on_call(w, "private", 2)
    sends = [
        w.chat.enqueue_private(alice, peer, text(f"m{n}"))
        for n in range(4)
        for peer in (bob,) if n % 2 == 0
    ] + [w.chat.enqueue_private(alice, carol, text(f"c{n}")) for n in range(2)]
    await asyncio.wait_for(gate.entered.wait(), WAIT_S)
    # the first batch is inside write_batch (held); the second one's rights are checked now
    await asyncio.wait_for(second_checked.wait(), WAIT_S)
    assert not any(f.done() for f in sends)  # nothing answered before its commit
    gate.release.set()
    results = [await asyncio.wait_for(f, WAIT_S) for f in sends]
    assert gate.sizes == [2, 2]
    assert [r.message.content for r in results] == ["m0", "m2", "c0", "c1"]
    assert [r.message.seq for r in results] == [1, 2, 1, 2]  # per-conversation order kept
    published = [h["message-id"] for d, _, h in w.pub.published if d.endswith(f"/{bob}")]
    assert published == [str(r.message.id) for r in results[:2]]
    ids = [r.message.id for r in results]
    assert ids == sorted(ids)  # commits in queue order


async def test_a_resend_of_a_message_still_committing_gets_its_row(db: Database) -> None:
    w = World(db)
    alice, bob = await w.user("alice"), await w.user("bob")
    await w.befriend(alice, bob)
    w.chat.batcher.max_batch = 1
    gate = GatedWrites(w)
    second_looked_up = on_call(w, "by_client_ids", 2)
    first = w.chat.enqueue_private(alice, bob, text("hello", "cm-1"))
    again = w.chat.enqueue_private(alice, bob, text("hello", "cm-1"))
    await asyncio.wait_for(gate.entered.wait(), WAIT_S)
    await asyncio.wait_for(second_looked_up.wait(), WAIT_S)  # found nothing: not committed
    gate.release.set()
    one: SendResult = await asyncio.wait_for(first, WAIT_S)
    two: SendResult = await asyncio.wait_for(again, WAIT_S)
    assert not one.duplicate and two.duplicate
    assert two.message.id == one.message.id
    assert gate.sizes == [1]  # the resend was settled from the batch before, not written
    assert int(await db.fetch_val("SELECT COUNT(*) FROM chat_message")) == 1
    assert {h["message-id"] for _, _, h in w.pub.published} == {str(one.message.id)}


async def test_a_database_down_during_a_commit_fails_the_batch_prepared_behind_it(
    db: Database,
) -> None:
    w = World(db)
    alice, bob = await w.user("alice"), await w.user("bob")
    await w.befriend(alice, bob)
    w.chat.batcher.max_batch = 2
    gate = GatedWrites(w, fail_with=Unavailable("database", "test: the database went away"))
    second_checked = on_call(w, "private", 2)
    sends = [w.chat.enqueue_private(alice, bob, text(f"m{n}")) for n in range(4)]
    await asyncio.wait_for(gate.entered.wait(), WAIT_S)
    await asyncio.wait_for(second_checked.wait(), WAIT_S)
    gate.release.set()
    outcomes = await asyncio.wait_for(
        asyncio.gather(*sends, return_exceptions=True), WAIT_S
    )
    assert all(isinstance(o, Unavailable) for o in outcomes), outcomes  # each answered
    assert gate.sizes == [2]  # the prepared batch was not written to a database just down
    after = await asyncio.wait_for(w.chat.send_private(alice, bob, text("after")), WAIT_S)
    assert after.message.seq == 1


async def test_shutdown_answers_both_batches_in_the_writer(db: Database) -> None:
    w = World(db)
    alice, bob = await w.user("alice"), await w.user("bob")
    await w.befriend(alice, bob)
    w.chat.batcher.max_batch = 2
    gate = GatedWrites(w)
    second_checked = on_call(w, "private", 2)
    sends = [w.chat.enqueue_private(alice, bob, text(f"m{n}")) for n in range(6)]
    await asyncio.wait_for(gate.entered.wait(), WAIT_S)
    await asyncio.wait_for(second_checked.wait(), WAIT_S)
    writer = w.chat.batcher._writer
    assert writer is not None
    writer.cancel()
    outcomes = await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), WAIT_S)
    assert len(outcomes) == 6 and all(isinstance(o, BaseException) for o in outcomes), outcomes
    assert not w.chat.batcher.writing
