"""SQLite backend: one aiosqlite connection, serialized by an asyncio.Lock.

Why one connection and a lock: SQLite allows one writer at a time anyway, and a single
connection shared by coroutines would otherwise let a plain statement from coroutine B run
inside coroutine A's open transaction. So every statement and every transaction holds the
lock; a transaction holds it from `BEGIN IMMEDIATE` to COMMIT/ROLLBACK. The connection runs
in autocommit mode (isolation_level=None) so the module never opens transactions on its own.

Statements issued by the task that owns the open transaction (found through a ContextVar
and checked against the owning task, so a task spawned inside it does not join) run in it
instead of waiting for the lock, which would deadlock. Waiting for the lock is bounded by
`Timeouts.acquire` and lock waits inside SQLite by its busy timeout (`Timeouts.query`):
past either, `Unavailable("database")`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from stompim.errors import DuplicateKey, InvalidValue, Unavailable
from stompim.metrics import DB_POOL_WAIT, DB_SECONDS
from stompim.store.database import (
    ExecResult,
    Timeouts,
    Tx,
    checked_params,
    count_db_error,
    is_insert,
)
from stompim.store.plan import Plan, drive

T = TypeVar("T")
_UNAVAILABLE_TEXT = ("locked", "disk i/o", "unable to open", "readonly", "read-only", "full")


def sqlite_path(url: str) -> str:
    """`sqlite:///./x.db` -> `./x.db`, `sqlite:////abs/x.db` -> `/abs/x.db`, memory kept."""
    if not url.lower().startswith("sqlite://"):
        raise ValueError(f"not a sqlite url: {url!r}")
    rest = url[len("sqlite://"):]
    if rest in ("", "/"):
        return ":memory:"
    if not rest.startswith("/"):
        raise ValueError(f"sqlite url must look like sqlite:///path, got {url!r}")
    path = rest[1:].split("?", 1)[0]
    return path or ":memory:"


class _SqliteTx:
    """Runs statements on the connection while the owning transaction is open."""

    def __init__(self, conn: aiosqlite.Connection, owner: asyncio.Task[Any] | None) -> None:
        self._conn = conn
        self.owner = owner  # the task that opened it: the only one that joins it
        self.closed = False
        self._savepoints = itertools.count(1)

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("transaction already finished")

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self._check()
        return await _fetch_all(self._conn, sql, params)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        self._check()
        return await _fetch_one(self._conn, sql, params)

    async def fetch_val(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._check()
        return await _fetch_val(self._conn, sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        self._check()
        return await _execute(self._conn, sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> ExecResult:
        self._check()
        return await _executemany(self._conn, sql, rows)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[Tx]:
        """A nested transaction: rolls back only its own statements when the block raises."""
        self._check()
        name = f"sp_{next(self._savepoints)}"
        await _translated(_on_thread(self._conn, _run, f"SAVEPOINT {name}", ()))
        try:
            yield self
        except BaseException:
            await _translated(_on_thread(self._conn, _run, f"ROLLBACK TO SAVEPOINT {name}", ()))
            await _translated(_on_thread(self._conn, _run, f"RELEASE SAVEPOINT {name}", ()))
            raise
        await _translated(_on_thread(self._conn, _run, f"RELEASE SAVEPOINT {name}", ()))


class SqliteDatabase:
    """`Database` over one aiosqlite connection. Open with `SqliteDatabase.open(url)`."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, timeouts: Timeouts | None = None) -> None:
        self._conn = conn
        self._timeouts = timeouts or Timeouts()
        self._lock = asyncio.Lock()
        self._waiting = 0   # tasks in _connection, waiting for the lock
        self._tx_var: contextvars.ContextVar[_SqliteTx | None] = contextvars.ContextVar(
            f"stompim_sqlite_tx_{id(self)}", default=None
        )
        self._closed = False

    @classmethod
    async def open(cls, url: str, *, timeouts: Timeouts | None = None) -> SqliteDatabase:
        timeouts = timeouts or Timeouts()
        path = sqlite_path(url)
        if path != ":memory:" and not path.startswith("file:"):
            await asyncio.to_thread(_make_parent_folder, path)
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {max(1, round(timeouts.query * 1000))}")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            await conn.close()
            raise
        return cls(conn, timeouts)

    def _joined(self) -> _SqliteTx | None:
        tx = self._tx_var.get()
        if tx is None or tx.closed or tx.owner is not asyncio.current_task():
            return None
        return tx

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[aiosqlite.Connection]:
        """Hold the one connection; waiting for it is bounded by `Timeouts.acquire`."""
        started = time.perf_counter()
        self._waiting += 1
        try:
            async with asyncio.timeout(self._timeouts.acquire):
                await self._lock.acquire()
        except TimeoutError:
            count_db_error("sqlite", "pool_timeout")
            raise Unavailable(
                "database", f"database busy: no turn on the connection within "
                f"{self._timeouts.acquire:g} s, retry"
            ) from None
        finally:
            self._waiting -= 1
        DB_POOL_WAIT.labels("sqlite").observe(time.perf_counter() - started)
        try:
            yield self._conn
        finally:
            self._lock.release()

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if (tx := self._joined()) is not None:
            return await tx.fetch_all(sql, params)
        async with self._connection() as conn:
            return await _fetch_all(conn, sql, params)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        if (tx := self._joined()) is not None:
            return await tx.fetch_one(sql, params)
        async with self._connection() as conn:
            return await _fetch_one(conn, sql, params)

    async def fetch_val(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if (tx := self._joined()) is not None:
            return await tx.fetch_val(sql, params)
        async with self._connection() as conn:
            return await _fetch_val(conn, sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        if (tx := self._joined()) is not None:
            return await tx.execute(sql, params)
        async with self._connection() as conn:
            return await _execute(conn, sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> ExecResult:
        if (tx := self._joined()) is not None:
            return await tx.executemany(sql, rows)
        async with self._connection() as conn:
            return await _executemany(conn, sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises (lock held throughout)."""
        outer = self._joined()
        if outer is not None:
            async with outer.savepoint() as tx:
                yield tx
            return
        async with self._connection() as conn:
            tx = _SqliteTx(conn, asyncio.current_task())
            token = self._tx_var.set(tx)
            try:
                await _translated(_on_thread(conn, _run, "BEGIN IMMEDIATE", ()), "begin")
                try:
                    yield tx
                except BaseException:
                    await _rollback_quietly(conn)
                    raise
                try:
                    await _translated(_on_thread(conn, _run, "COMMIT", ()), "commit")
                except BaseException:  # a deferred constraint, a full disk, cancellation
                    await _rollback_quietly(conn)
                    raise
            finally:
                tx.closed = True
                self._tx_var.reset(token)

    async def run_plan(self, plan: Plan[T]) -> T:
        """The whole transaction of `plan` (stompim.store.plan), BEGIN IMMEDIATE to
        COMMIT, in one hand-off to the connection's thread; inside a transaction this
        task has open, statement by statement in a savepoint."""
        if self._joined() is not None:
            async with self.transaction() as tx:
                return await drive(tx, plan)
        async with self._connection() as conn:
            return await _translated(_on_thread(conn, _run_plan, plan), "plan")

    def pool_usage(self) -> tuple[int, int, int, int]:
        """(connections in use, open, the most there may be, tasks waiting for it), for
        /metrics: SQLite has one connection."""
        return int(self._lock.locked()), 1, 1, self._waiting

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await self._conn.close()


def _make_parent_folder(path: str) -> None:
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


async def _rollback_quietly(conn: aiosqlite.Connection) -> None:
    # SQLite may already have rolled back by itself (after some errors).
    with contextlib.suppress(sqlite3.Error):
        await _on_thread(conn, _run, "ROLLBACK", ())


def _translation(exc: BaseException) -> Exception | None:
    """The stompim error an engine error stands for; None when it is a bug of ours."""
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if text.startswith("UNIQUE constraint failed"):
            return DuplicateKey(text)
        return InvalidValue(text)
    if isinstance(exc, OverflowError):  # checked_params refuses these first
        return InvalidValue(text)
    if isinstance(exc, sqlite3.OperationalError) and any(
        part in text.lower() for part in _UNAVAILABLE_TEXT
    ):
        return Unavailable("database", f"database unavailable ({text}), retry")
    return None


async def _translated(step: Awaitable[T], operation: str = "statement") -> T:
    """Await one driver call, raising engine errors as the stompim errors they mean;
    its time goes to stompim_db_query_seconds, its failure to stompim_db_errors."""
    started = time.perf_counter()
    try:
        result = await step
    except (sqlite3.Error, OverflowError) as exc:
        translated = _translation(exc)
        count_db_error("sqlite", translated)
        if translated is None:
            raise
        raise translated from exc
    DB_SECONDS.labels("sqlite", operation).observe(time.perf_counter() - started)
    return result


def _on_thread(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> Awaitable[T]:
    """Run `fn(sqlite3 connection, *args)` on the connection's own thread: one hand-off
    there and one back per call.

    Why not aiosqlite's cursor API: `execute` + `fetchall` + closing the cursor are three
    hand-offs, and each one waits for the event loop to let go of the GIL, up to the
    interpreter's switch interval (5 ms) while the loop is busy parsing frames. With ten
    statements a chat batch, those waits, not SQLite, set the batch's time under load.
    `Connection._execute` is aiosqlite's own queue to that thread (every public method
    goes through it)."""
    return conn._execute(lambda: fn(conn._conn, *args))  # type: ignore[no-untyped-call]


def _run_plan(db: sqlite3.Connection, plan: Plan[T]) -> T:
    """On the connection's thread: BEGIN IMMEDIATE, every step of `plan`, COMMIT; ROLLBACK
    when a step or the plan raises (the caller translates sqlite3 errors)."""
    _run(db, "BEGIN IMMEDIATE", ())
    try:
        step = next(plan)
        while True:
            if step.fetch:
                result: list[dict[str, Any]] | None = _rows(
                    db, step.sql, checked_params(step.params)
                )
            else:
                _run(db, step.sql, checked_params(step.params))
                result = None
            step = plan.send(result)
    except StopIteration as done:
        value: T = done.value
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            _run(db, "ROLLBACK", ())
        raise
    try:
        _run(db, "COMMIT", ())
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            _run(db, "ROLLBACK", ())
        raise
    return value


def _rows(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cur = db.execute(sql, params)
    try:
        return [dict(row) for row in cur.fetchall()]
    finally:
        cur.close()


def _row(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> dict[str, Any] | None:
    cur = db.execute(sql, params)
    try:
        row = cur.fetchone()
    finally:
        cur.close()
    return None if row is None else dict(row)


def _run(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> tuple[int, int | None]:
    cur = db.execute(sql, params)
    try:
        return cur.rowcount, cur.lastrowid
    finally:
        cur.close()


def _run_many(db: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    cur = db.executemany(sql, rows)
    try:
        return cur.rowcount
    finally:
        cur.close()


async def _fetch_all(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any]
) -> list[dict[str, Any]]:
    return await _translated(_on_thread(conn, _rows, sql, checked_params(params)))


async def _fetch_one(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any]
) -> dict[str, Any] | None:
    return await _translated(_on_thread(conn, _row, sql, checked_params(params)))


async def _fetch_val(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> Any:
    row = await _fetch_one(conn, sql, params)
    return None if row is None else next(iter(row.values()), None)


async def _execute(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> ExecResult:
    rowcount, lastrowid = await _translated(_on_thread(conn, _run, sql, checked_params(params)))
    inserted = is_insert(sql) and rowcount > 0
    return ExecResult(max(rowcount, 0), lastrowid if inserted else None)


async def _executemany(
    conn: aiosqlite.Connection, sql: str, rows: Sequence[Sequence[Any]]
) -> ExecResult:
    if not rows:
        return ExecResult(0, None)
    checked = [checked_params(r) for r in rows]
    return ExecResult(max(await _translated(_on_thread(conn, _run_many, sql, checked)), 0), None)
