"""MySQL/MariaDB backend: an aiomysql pool of autocommit connections with DictCursor.

A single statement borrows a connection for just that statement. A transaction borrows one
connection for the whole block: BEGIN, statements, COMMIT (or ROLLBACK when the block
raises), release. Plain `db.*` calls made by the task that owns an open transaction join it
(a ContextVar names the transaction), so they see its uncommitted rows and never wait on
its locks from a second connection.

Placeholders: repositories write `?`; `translate()` turns every `?` outside string
literals and quoted identifiers into `%s` and doubles every `%` (pymysql applies `%`
formatting because we always pass a parameter tuple).

Connections are made with utf8mb4, CLIENT.FOUND_ROWS (UPDATE rowcount = matched rows, like
SQLite) and an explicit strict sql_mode, so MariaDB and MySQL 8 behave alike.
"""

from __future__ import annotations

import asyncio
import contextvars
import decimal
import functools
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiomysql
import pymysql
from pymysql.constants import CLIENT

from stompim.store.database import ExecResult, IntegrityError, Tx

SQL_MODE = (
    "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)
# pymysql client-side error numbers (2000-2999) mean the connection itself is broken.
_CLIENT_ERROR_MIN = 2000


class _QuietDictCursor(aiomysql.DictCursor):  # type: ignore[misc]
    """DictCursor without aiomysql's SHOW WARNINGS round trip and Python `Warning`s.

    Notes such as "table already exists" (every migrate) would otherwise become Python
    warnings (errors under pytest); real data problems are errors under the strict
    sql_mode set on every connection.
    """

    async def _show_warnings(self, conn: Any) -> None:
        return None


def parse_mysql_url(url: str) -> dict[str, Any]:
    """`mysql://user:pass@host:port/db?charset=utf8mb4` -> aiomysql.connect keyword arguments."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("mysql", "mariadb", "mysql+aiomysql"):
        raise ValueError(f"not a mysql url: {url!r}")
    db = unquote(parts.path.lstrip("/"))
    if not db:
        raise ValueError(f"mysql url names no database: {url!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    kwargs: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "db": db,
        "charset": query.pop("charset", "utf8mb4"),
    }
    if "connect_timeout" in query:
        kwargs["connect_timeout"] = float(query.pop("connect_timeout"))
    if "unix_socket" in query:
        kwargs["unix_socket"] = query.pop("unix_socket")
    if "pool_recycle" in query:
        kwargs["pool_recycle"] = int(query.pop("pool_recycle"))
    if query:
        raise ValueError(f"unknown mysql url parameters: {sorted(query)}")
    return kwargs


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """`?` -> `%s` outside quotes; `%` -> `%%` everywhere (pymysql %-formats the query)."""
    out: list[str] = []
    quote = ""
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "%":
            out.append("%%")
        elif quote:
            out.append(ch)
            if ch == "\\" and quote != "`" and i + 1 < n:
                nxt = sql[i + 1]
                out.append("%%" if nxt == "%" else nxt)
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in ("'", '"', "`"):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _plain(value: Any) -> Any:
    """DECIMAL (what MySQL returns for SUM/AVG) -> int or float, as SQLite would give."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in row.items()}


async def _fetch_all(
    conn: aiomysql.Connection, sql: str, params: Sequence[Any]
) -> list[dict[str, Any]]:
    async with conn.cursor() as cur:
        await _run(cur, sql, params)
        rows = await cur.fetchall()
    return [_row(r) for r in rows]


async def _fetch_one(
    conn: aiomysql.Connection, sql: str, params: Sequence[Any]
) -> dict[str, Any] | None:
    async with conn.cursor() as cur:
        await _run(cur, sql, params)
        row = await cur.fetchone()
        await cur.fetchall()  # drain, so the connection is clean for the next statement
    return None if row is None else _row(row)


async def _fetch_val(conn: aiomysql.Connection, sql: str, params: Sequence[Any]) -> Any:
    row = await _fetch_one(conn, sql, params)
    return None if row is None else next(iter(row.values()), None)


async def _execute(conn: aiomysql.Connection, sql: str, params: Sequence[Any]) -> ExecResult:
    async with conn.cursor() as cur:
        await _run(cur, sql, params)
        return ExecResult(max(cur.rowcount, 0), cur.lastrowid or None)


async def _executemany(
    conn: aiomysql.Connection, sql: str, rows: Sequence[Sequence[Any]]
) -> ExecResult:
    if not rows:
        return ExecResult(0, None)
    async with conn.cursor() as cur:
        try:
            await cur.executemany(translate(sql), [tuple(r) for r in rows])
        except pymysql.err.IntegrityError as exc:
            raise IntegrityError(str(exc.args[1] if len(exc.args) > 1 else exc)) from exc
        return ExecResult(max(cur.rowcount, 0), None)


async def _run(cur: aiomysql.Cursor, sql: str, params: Sequence[Any]) -> None:
    try:
        await cur.execute(translate(sql), tuple(params))
    except pymysql.err.IntegrityError as exc:
        raise IntegrityError(str(exc.args[1] if len(exc.args) > 1 else exc)) from exc


def _broken(exc: BaseException) -> bool:
    """Whether the connection must be discarded rather than returned to the pool."""
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, pymysql.err.MySQLError):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else _CLIENT_ERROR_MIN
        return code >= _CLIENT_ERROR_MIN
    return True  # cancellation or I/O error mid-statement: state unknown


async def _rollback_quietly(conn: aiomysql.Connection) -> bool:
    """Roll back; False when that failed too (the connection is then discarded)."""
    try:
        await conn.rollback()
    except BaseException:
        return False
    return True


class _MysqlTx:
    """Statements on the one connection of an open transaction, one at a time."""

    def __init__(self, conn: aiomysql.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()  # joined child tasks must not interleave on one socket
        self.closed = False
        self._savepoints = itertools.count(1)

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("transaction already finished")

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self._check()
        async with self._lock:
            return await _fetch_all(self._conn, sql, params)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        self._check()
        async with self._lock:
            return await _fetch_one(self._conn, sql, params)

    async def fetch_val(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._check()
        async with self._lock:
            return await _fetch_val(self._conn, sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        self._check()
        async with self._lock:
            return await _execute(self._conn, sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> ExecResult:
        self._check()
        async with self._lock:
            return await _executemany(self._conn, sql, rows)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[Tx]:
        """A nested transaction: rolls back only its own statements when the block raises."""
        self._check()
        name = f"sp_{next(self._savepoints)}"
        await self.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            await self.execute(f"ROLLBACK TO SAVEPOINT {name}")
            raise
        await self.execute(f"RELEASE SAVEPOINT {name}")


class MysqlDatabase:
    """`Database` over an aiomysql pool. Open with `MysqlDatabase.open(url)`."""

    dialect = "mysql"

    def __init__(self, pool: aiomysql.Pool) -> None:
        self._pool = pool
        self._tx_var: contextvars.ContextVar[_MysqlTx | None] = contextvars.ContextVar(
            f"stompim_mysql_tx_{id(self)}", default=None
        )
        self._closed = False

    @classmethod
    async def open(cls, url: str, *, pool_min: int = 1, pool_max: int = 10) -> MysqlDatabase:
        kwargs = parse_mysql_url(url)
        pool = await aiomysql.create_pool(
            minsize=max(0, min(pool_min, pool_max)),
            maxsize=max(1, pool_max),
            autocommit=True,
            cursorclass=_QuietDictCursor,
            client_flag=CLIENT.FOUND_ROWS,
            init_command=f"SET SESSION sql_mode='{SQL_MODE}', time_zone='+00:00'",
            **kwargs,
        )
        return cls(pool)

    def _joined(self) -> _MysqlTx | None:
        tx = self._tx_var.get()
        return tx if tx is not None and not tx.closed else None

    async def _with_conn(self, op: Any, sql: str, params: Any) -> Any:
        conn = await self._pool.acquire()
        try:
            return await op(conn, sql, params)
        except BaseException as exc:
            if _broken(exc):
                conn.close()
            raise
        finally:
            await self._pool.release(conn)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if (tx := self._joined()) is not None:
            return await tx.fetch_all(sql, params)
        return await self._with_conn(_fetch_all, sql, params)  # type: ignore[no-any-return]

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        if (tx := self._joined()) is not None:
            return await tx.fetch_one(sql, params)
        return await self._with_conn(_fetch_one, sql, params)  # type: ignore[no-any-return]

    async def fetch_val(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if (tx := self._joined()) is not None:
            return await tx.fetch_val(sql, params)
        return await self._with_conn(_fetch_val, sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        if (tx := self._joined()) is not None:
            return await tx.execute(sql, params)
        return await self._with_conn(_execute, sql, params)  # type: ignore[no-any-return]

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> ExecResult:
        if (tx := self._joined()) is not None:
            return await tx.executemany(sql, rows)
        return await self._with_conn(_executemany, sql, rows)  # type: ignore[no-any-return]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """BEGIN on one pooled connection; COMMIT on normal exit, ROLLBACK on exception."""
        outer = self._joined()
        if outer is not None:
            async with outer.savepoint() as nested:
                yield nested
            return
        conn = await self._pool.acquire()
        tx = _MysqlTx(conn)
        token = self._tx_var.set(tx)
        discard = False
        try:
            try:
                await conn.begin()
            except BaseException as exc:
                discard = _broken(exc)
                raise
            try:
                yield tx
            except BaseException:
                discard = not await _rollback_quietly(conn)
                raise
            try:
                await conn.commit()
            except BaseException as exc:
                discard = _broken(exc) or not await _rollback_quietly(conn)
                raise
        finally:
            tx.closed = True
            self._tx_var.reset(token)
            if discard:
                conn.close()
            await self._pool.release(conn)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.close()
        await self._pool.wait_closed()
