"""Transaction plans (stompim.store.plan) on both backends: every step commits
together, a failing step or plan rolls back all of it, the rows of a SELECT come back
to the plan; on SQLite the whole transaction is one hand-off to the connection's thread
and joins a transaction the task has open as a savepoint. Uses the real chat_inbox table
(user_id primary key, last_seq)."""

from __future__ import annotations

from typing import Any

import pytest

from stompim.store import Database, DuplicateKey
from stompim.store.plan import Plan, Rows, Step, run_plan


def counters(users: list[int], fail_at: int | None = None) -> Plan[Rows]:
    """Insert one counter row per user, bump them all, read them back; with `fail_at`,
    raise after that many inserts."""
    for n, user in enumerate(users):
        if n == fail_at:
            raise RuntimeError("the plan gives up")
        yield Step("INSERT INTO chat_inbox (user_id, last_seq) VALUES (?, ?)", (user, n))
    yield Step("UPDATE chat_inbox SET last_seq = last_seq + 10", ())
    rows = yield Step("SELECT user_id, last_seq FROM chat_inbox ORDER BY user_id", (), True)
    return rows or []


async def stored(db: Database) -> list[tuple[int, int]]:
    rows = await db.fetch_all("SELECT user_id, last_seq FROM chat_inbox ORDER BY user_id")
    return [(int(r["user_id"]), int(r["last_seq"])) for r in rows]


async def test_a_plan_commits_its_steps_and_reads_its_own_rows(db: Database) -> None:
    rows = await run_plan(db, counters([7, 8, 9]))
    assert [(int(r["user_id"]), int(r["last_seq"])) for r in rows] == [(7, 10), (8, 11), (9, 12)]
    assert await stored(db) == [(7, 10), (8, 11), (9, 12)]


async def test_a_plan_that_raises_rolls_everything_back(db: Database) -> None:
    with pytest.raises(RuntimeError, match="gives up"):
        await run_plan(db, counters([7, 8, 9], fail_at=2))
    assert await stored(db) == []
    await run_plan(db, counters([1]))  # the connection is usable afterwards
    assert await stored(db) == [(1, 10)]


async def test_a_refused_step_raises_its_store_error_and_rolls_back(db: Database) -> None:
    await db.execute("INSERT INTO chat_inbox (user_id, last_seq) VALUES (8, 0)")
    with pytest.raises(DuplicateKey):
        await run_plan(db, counters([7, 8]))
    assert await stored(db) == [(8, 0)]


async def test_sqlite_runs_a_plan_in_one_hand_off(sqlite_db: Database) -> None:
    conn: Any = sqlite_db._conn  # type: ignore[attr-defined]
    original = conn._execute
    calls = 0

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await original(fn, *args, **kwargs)

    conn._execute = counting
    try:
        await run_plan(sqlite_db, counters([1, 2, 3, 4]))  # BEGIN, 6 steps, COMMIT
    finally:
        conn._execute = original
    assert calls == 1
    assert await stored(sqlite_db) == [(1, 10), (2, 11), (3, 12), (4, 13)]


async def test_sqlite_plan_inside_an_open_transaction_is_part_of_it(
    sqlite_db: Database,
) -> None:
    with pytest.raises(LookupError):
        async with sqlite_db.transaction():
            await run_plan(sqlite_db, counters([5, 6]))
            assert len(await stored(sqlite_db)) == 2  # seen inside the transaction
            raise LookupError("the outer transaction rolls back")
    assert await stored(sqlite_db) == []
