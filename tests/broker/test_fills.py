"""SharedFills (stompim.broker.fills): one query per hole for every session with it,
while it runs and for a short while after; never a view older than the asker's hole."""

from __future__ import annotations

import asyncio

import pytest

from stompim.broker.fills import Rows, SharedFills

KEY = (1, "/topic/chat/room", 0)


class Store:
    """Rows by seq; counts queries; `gate` holds a query until opened."""

    def __init__(self) -> None:
        self.rows: list[tuple[dict[str, str], bytes]] = []
        self.queries = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False
        self.started = asyncio.Event()

    def store(self, body: bytes) -> None:
        self.rows.append(({"seq": str(len(self.rows) + 1)}, body))

    async def query(self) -> Rows:
        self.queries += 1
        seen = list(self.rows)          # what is committed when the query starts
        self.started.set()
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("the store does not answer")
        return seen


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fills(keep: float = 60.0) -> tuple[SharedFills, Clock, set[asyncio.Task[Rows]]]:
    clock, tracked = Clock(), set[asyncio.Task[Rows]]()
    return SharedFills(asyncio.get_running_loop(), clock, keep, tracked.add), clock, tracked


async def test_askers_of_a_running_fill_share_it() -> None:
    shared, clock, tracked = fills()
    store = Store()
    store.store(b"m1")
    store.gate.clear()
    first = shared.fill(KEY, clock(), store.query)
    second = shared.fill(KEY, clock(), store.query)
    store.gate.set()
    assert await first == await second == [({"seq": "1"}, b"m1")]
    assert store.queries == 1 and len(tracked) == 1


async def test_a_late_asker_of_a_finished_fill_reuses_it() -> None:
    """The sessions of one lost publish all opened their hole before the query started;
    on a busy loop the last of them may ask only after it finished: still one query."""
    shared, clock, _ = fills()
    store = Store()
    store.store(b"m1")
    opened = clock()
    clock.now += 0.1                     # the grace every asker waits
    assert await shared.fill(KEY, opened, store.query) == [({"seq": "1"}, b"m1")]
    clock.now += 0.05                    # a late one of the same hole
    assert await shared.fill(KEY, opened, store.query) == [({"seq": "1"}, b"m1")]
    assert store.queries == 1


async def test_a_hole_opened_after_the_query_started_gets_its_own() -> None:
    """Rows committed after the shared query started are not in it: a session whose hole
    opened later (its held message may be one of them) queries afresh, finished fill or
    running one."""
    shared, clock, _ = fills()
    store = Store()
    store.store(b"m1")
    assert await shared.fill(KEY, clock(), store.query) == [({"seq": "1"}, b"m1")]
    store.store(b"m2")
    clock.now += 0.01
    assert await shared.fill(KEY, clock(), store.query) == [
        ({"seq": "1"}, b"m1"), ({"seq": "2"}, b"m2")]
    store.gate.clear()
    store.started.clear()
    clock.now += 0.01
    running = shared.fill(KEY, clock(), store.query)
    async with asyncio.timeout(5):
        await store.started.wait()
    store.store(b"m3")
    clock.now += 0.01
    later = shared.fill(KEY, clock(), store.query)
    store.gate.set()
    assert len(await running) == 2 and len(await later) == 3
    assert store.queries == 4


async def test_a_finished_fill_is_forgotten_after_keep() -> None:
    shared, clock, _ = fills(keep=0.0)
    store = Store()
    await shared.fill(KEY, clock(), store.query)
    assert len(shared) == 0
    await shared.fill(KEY, clock() - 1, store.query)
    assert store.queries == 2


async def test_a_failed_fill_is_not_kept() -> None:
    shared, clock, _ = fills()
    store = Store()
    store.fail = True
    with pytest.raises(ConnectionError):
        await shared.fill(KEY, clock(), store.query)
    store.fail = False
    await shared.fill(KEY, clock() - 1, store.query)
    assert store.queries == 2


async def test_an_asker_going_away_does_not_cancel_the_query() -> None:
    shared, clock, _ = fills()
    store = Store()
    store.gate.clear()
    first = shared.fill(KEY, clock(), store.query)
    second = shared.fill(KEY, clock(), store.query)
    await asyncio.sleep(0)
    first.cancel()
    store.gate.set()
    assert await second == []
