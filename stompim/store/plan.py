"""A transaction written once as a plan of statements, run by either backend.

Why: a batch of chat messages is about ten statements, each depending on the one
before (the seqs come from a SELECT, the inbox entries from the ids the INSERT
returned). Over aiosqlite every statement is a hand-off to the connection's thread and
back, and each hand-off waits for the busy event loop to let go of the GIL. A plan is a
generator that yields each statement and receives its result, so SQLite can run the
whole transaction, BEGIN to COMMIT, in one hand-off (`SqliteDatabase.run_plan`), while
MySQL runs the same plan statement by statement over its connection (`run_plan` below).

A plan yields `Step(sql, params, fetch)` and is sent back the rows (`fetch`) or None;
what it returns is the transaction's result. It must not touch the event loop: on
SQLite it runs on the connection's thread. Raising inside the plan rolls the
transaction back.

Call order: `await run_plan(db, plan)`; nothing else (the backend opens and commits).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


class Step(NamedTuple):
    """One statement of a plan; `fetch`: the plan wants its rows back."""

    sql: str
    params: Sequence[Any]
    fetch: bool = False


Rows = list[dict[str, Any]]
Plan = Generator[Step, Rows | None, T]


class Tx(Protocol):
    """What a plan needs of an open transaction (stompim.store.database.Tx has it; not
    imported from there: the backends import this module, database imports them)."""

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> Rows: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...


class Database(Protocol):
    """What `run_plan` needs of stompim.store.database.Database."""

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


@runtime_checkable
class PlanRunner(Protocol):
    """A backend that runs a whole plan on its own (SQLite: in one hand-off)."""

    async def run_plan(self, plan: Plan[T]) -> T: ...


async def drive(tx: Tx, plan: Plan[T]) -> T:
    """Run `plan` statement by statement inside the open transaction `tx`."""
    try:
        step = next(plan)
        while True:
            if step.fetch:
                result: Rows | None = await tx.fetch_all(step.sql, step.params)
            else:
                await tx.execute(step.sql, step.params)
                result = None
            step = plan.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_plan(db: Database, plan: Plan[T]) -> T:
    """`plan` in one transaction of `db`: in one go where the backend can
    (`PlanRunner`), else statement by statement."""
    if isinstance(db, PlanRunner):
        return await db.run_plan(plan)
    async with db.transaction() as tx:
        return await drive(tx, plan)
