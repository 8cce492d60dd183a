"""SQLite backend: one aiosqlite connection, serialized by an asyncio.Lock.

Why one connection and a lock: SQLite allows one writer at a time anyway, and a single
connection shared by coroutines would otherwise let a plain statement from coroutine B run
inside coroutine A's open transaction. So every statement and every transaction holds the
lock; a transaction holds it from `BEGIN IMMEDIATE` to COMMIT/ROLLBACK. The connection runs
in autocommit mode (isolation_level=None) so the module never opens transactions on its own.

Statements issued from the task that owns the open transaction (found through a
ContextVar) join it instead of waiting for the lock, which would deadlock.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from stompim.store.database import ExecResult, IntegrityError, Tx, is_insert

BUSY_TIMEOUT_MS = 5000


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

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
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
        await self._conn.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            await self._conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
            await self._conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        await self._conn.execute(f"RELEASE SAVEPOINT {name}")


class SqliteDatabase:
    """`Database` over one aiosqlite connection. Open with `SqliteDatabase.open(url)`."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._tx_var: contextvars.ContextVar[_SqliteTx | None] = contextvars.ContextVar(
            f"stompim_sqlite_tx_{id(self)}", default=None
        )
        self._closed = False

    @classmethod
    async def open(cls, url: str) -> SqliteDatabase:
        path = sqlite_path(url)
        if path != ":memory:" and not path.startswith("file:"):
            await asyncio.to_thread(_make_parent_folder, path)
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    def _joined(self) -> _SqliteTx | None:
        tx = self._tx_var.get()
        return tx if tx is not None and not tx.closed else None

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if (tx := self._joined()) is not None:
            return await tx.fetch_all(sql, params)
        async with self._lock:
            return await _fetch_all(self._conn, sql, params)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        if (tx := self._joined()) is not None:
            return await tx.fetch_one(sql, params)
        async with self._lock:
            return await _fetch_one(self._conn, sql, params)

    async def fetch_val(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if (tx := self._joined()) is not None:
            return await tx.fetch_val(sql, params)
        async with self._lock:
            return await _fetch_val(self._conn, sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        if (tx := self._joined()) is not None:
            return await tx.execute(sql, params)
        async with self._lock:
            return await _execute(self._conn, sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> ExecResult:
        if (tx := self._joined()) is not None:
            return await tx.executemany(sql, rows)
        async with self._lock:
            return await _executemany(self._conn, sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises (lock held throughout)."""
        outer = self._joined()
        if outer is not None:
            async with outer.savepoint() as tx:
                yield tx
            return
        async with self._lock:
            tx = _SqliteTx(self._conn)
            token = self._tx_var.set(tx)
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield tx
                except BaseException:
                    await _rollback_quietly(self._conn)
                    raise
                try:
                    await self._conn.execute("COMMIT")
                except sqlite3.IntegrityError as exc:  # deferred foreign keys
                    await _rollback_quietly(self._conn)
                    raise IntegrityError(str(exc)) from exc
            finally:
                tx.closed = True
                self._tx_var.reset(token)

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
        await conn.execute("ROLLBACK")


async def _fetch_all(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any]
) -> list[dict[str, Any]]:
    try:
        async with conn.execute(sql, tuple(params)) as cur:
            rows = await cur.fetchall()
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(str(exc)) from exc
    return [dict(row) for row in rows]


async def _fetch_one(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any]
) -> dict[str, Any] | None:
    try:
        async with conn.execute(sql, tuple(params)) as cur:
            row = await cur.fetchone()
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(str(exc)) from exc
    return None if row is None else dict(row)


async def _fetch_val(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> Any:
    try:
        async with conn.execute(sql, tuple(params)) as cur:
            row = await cur.fetchone()
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(str(exc)) from exc
    return None if row is None else row[0]


async def _execute(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> ExecResult:
    try:
        async with conn.execute(sql, tuple(params)) as cur:
            rowcount = cur.rowcount
            lastrowid = cur.lastrowid
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(str(exc)) from exc
    inserted = is_insert(sql) and rowcount > 0
    return ExecResult(max(rowcount, 0), lastrowid if inserted else None)


async def _executemany(
    conn: aiosqlite.Connection, sql: str, rows: Sequence[Sequence[Any]]
) -> ExecResult:
    if not rows:
        return ExecResult(0, None)
    try:
        async with conn.executemany(sql, [tuple(r) for r in rows]) as cur:
            rowcount = cur.rowcount
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(str(exc)) from exc
    return ExecResult(max(rowcount, 0), None)
