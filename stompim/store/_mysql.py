"""MySQL/MariaDB backend: an aiomysql pool of autocommit connections with DictCursor.

A single statement borrows a connection for just that statement. A transaction borrows one
connection for the whole block: BEGIN, statements, COMMIT (or ROLLBACK when the block
raises), release. Plain `db.*` calls made by the task that owns an open transaction join it
(a ContextVar names the transaction, and only its owning task joins: a task spawned inside
the block inherits the ContextVar but runs its statements on a connection of its own), so
they see its uncommitted rows and never wait on its locks from a second connection.

Every wait is bounded (`Timeouts`): connecting (`connect_timeout`), waiting for a pooled
connection (the pool waits rather than fails when all are busy, up to `acquire`), and each
statement, BEGIN and COMMIT included (`query`; aiomysql has no read timeout of its own, so
`asyncio.timeout` bounds it and the connection, in an unknown state, is discarded). A
timeout, a refused or lost connection, a lock wait or deadlock raises
`Unavailable("database")`; a unique key `DuplicateKey`; a refused value `InvalidValue`.

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
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import aiomysql
import pymysql
from pymysql.constants import CLIENT, ER

from stompim.errors import DuplicateKey, InvalidValue, StoreError, Unavailable
from stompim.metrics import DB_POOL_WAIT, DB_SECONDS
from stompim.store.database import ExecResult, Timeouts, Tx, checked_params, count_db_error

T = TypeVar("T")

SQL_MODE = (
    "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)
# pymysql client-side error numbers (2000-2999) mean the connection itself is broken.
_CLIENT_ERROR_MIN = 2000
# Server answers that say "not now" rather than "not this": retry later.
_TRANSIENT = frozenset({
    ER.LOCK_WAIT_TIMEOUT, ER.LOCK_DEADLOCK, ER.CON_COUNT_ERROR, ER.TOO_MANY_USER_CONNECTIONS,
    ER.SERVER_SHUTDOWN, ER.QUERY_INTERRUPTED,
})


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


def _code(exc: BaseException) -> int:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else _CLIENT_ERROR_MIN


def _translation(exc: BaseException) -> Exception | None:
    """The stompim error an aiomysql/pymysql failure stands for; None for a bug of ours."""
    text = str(exc.args[1] if len(exc.args) > 1 else exc)
    if isinstance(exc, pymysql.err.IntegrityError):
        if _code(exc) == ER.DUP_ENTRY:
            return DuplicateKey(text)
        return InvalidValue(text)
    if isinstance(exc, pymysql.err.DataError):
        return InvalidValue(text)
    if isinstance(exc, pymysql.err.MySQLError):
        code = _code(exc)
        if code >= _CLIENT_ERROR_MIN or code in _TRANSIENT:
            return Unavailable("database", f"database unavailable ({text}), retry")
        return None
    if isinstance(exc, (OSError, EOFError, ConnectionError)):
        return Unavailable("database", f"database connection lost ({exc!r}), retry")
    return None


_OPERATIONS = {"a statement": "statement", "BEGIN": "begin", "COMMIT": "commit"}


async def _bounded(step: Awaitable[T], seconds: float, what: str) -> T:
    """Await one driver call within `seconds`, raising engine errors as stompim errors;
    its time goes to stompim_db_query_seconds, its failure to stompim_db_errors."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            result = await step
    except TimeoutError:
        count_db_error("mysql", "timeout")
        raise Unavailable("database", f"database did not answer {what} within {seconds:g} s, "
                          "retry") from None
    except (pymysql.err.MySQLError, OSError, EOFError) as exc:
        translated = _translation(exc)
        count_db_error("mysql", translated)
        if translated is None:
            raise
        raise translated from exc
    DB_SECONDS.labels("mysql", _OPERATIONS.get(what, "other")).observe(
        time.perf_counter() - started)
    return result


async def _fetch_all(
    conn: aiomysql.Connection, sql: str, params: Sequence[Any]
) -> list[dict[str, Any]]:
    async with conn.cursor() as cur:
        await cur.execute(translate(sql), checked_params(params))
        rows = await cur.fetchall()
    return [_row(r) for r in rows]


async def _fetch_one(
    conn: aiomysql.Connection, sql: str, params: Sequence[Any]
) -> dict[str, Any] | None:
    async with conn.cursor() as cur:
        await cur.execute(translate(sql), checked_params(params))
        row = await cur.fetchone()
        await cur.fetchall()  # drain, so the connection is clean for the next statement
    return None if row is None else _row(row)


async def _fetch_val(conn: aiomysql.Connection, sql: str, params: Sequence[Any]) -> Any:
    row = await _fetch_one(conn, sql, params)
    return None if row is None else next(iter(row.values()), None)


async def _execute(conn: aiomysql.Connection, sql: str, params: Sequence[Any]) -> ExecResult:
    async with conn.cursor() as cur:
        await cur.execute(translate(sql), checked_params(params))
        return ExecResult(max(cur.rowcount, 0), cur.lastrowid or None)


async def _executemany(
    conn: aiomysql.Connection, sql: str, rows: Sequence[Sequence[Any]]
) -> ExecResult:
    if not rows:
        return ExecResult(0, None)
    async with conn.cursor() as cur:
        await cur.executemany(translate(sql), [checked_params(r) for r in rows])
        return ExecResult(max(cur.rowcount, 0), None)


Op = Callable[[aiomysql.Connection, str, Any], Awaitable[Any]]


def _broken(exc: BaseException) -> bool:
    """Whether the connection must be discarded rather than returned to the pool."""
    if isinstance(exc, StoreError):
        return False  # the statement was refused; the connection is fine
    if isinstance(exc, pymysql.err.MySQLError):
        return _code(exc) >= _CLIENT_ERROR_MIN
    return True  # a timeout, a lost connection, cancellation mid-statement: state unknown


async def _rollback_quietly(conn: aiomysql.Connection, seconds: float) -> bool:
    """Roll back; False when that failed too (the connection is then discarded)."""
    try:
        async with asyncio.timeout(seconds):
            await conn.rollback()
    except BaseException:
        return False
    return True


class _MysqlTx:
    """Statements on the one connection of an open transaction (its owning task only)."""

    def __init__(
        self, conn: aiomysql.Connection, owner: asyncio.Task[Any] | None, timeouts: Timeouts
    ) -> None:
        self._conn = conn
        self.owner = owner
        self._timeouts = timeouts
        self.closed = False
        self._savepoints = itertools.count(1)

    async def _run(self, op: Op, sql: str, params: Any) -> Any:
        if self.closed:
            raise RuntimeError("transaction already finished")
        return await _bounded(op(self._conn, sql, params), self._timeouts.query, "a statement")

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return await self._run(_fetch_all, sql, params)  # type: ignore[no-any-return]

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        return await self._run(_fetch_one, sql, params)  # type: ignore[no-any-return]

    async def fetch_val(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._run(_fetch_val, sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult:
        return await self._run(_execute, sql, params)  # type: ignore[no-any-return]

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> ExecResult:
        return await self._run(_executemany, sql, rows)  # type: ignore[no-any-return]

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[Tx]:
        """A nested transaction: rolls back only its own statements when the block raises."""
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

    def __init__(self, pool: aiomysql.Pool, timeouts: Timeouts | None = None) -> None:
        self._pool = pool
        self._waiting = 0   # tasks in _acquire
        self._timeouts = timeouts or Timeouts()
        self._tx_var: contextvars.ContextVar[_MysqlTx | None] = contextvars.ContextVar(
            f"stompim_mysql_tx_{id(self)}", default=None
        )
        self._closed = False

    @classmethod
    async def open(
        cls, url: str, *, pool_min: int = 1, pool_max: int = 10, timeouts: Timeouts | None = None
    ) -> MysqlDatabase:
        timeouts = timeouts or Timeouts()
        kwargs = parse_mysql_url(url)
        kwargs.setdefault("connect_timeout", timeouts.connect)
        pool = await aiomysql.create_pool(
            minsize=max(0, min(pool_min, pool_max)),
            maxsize=max(1, pool_max),
            autocommit=True,
            cursorclass=_QuietDictCursor,
            client_flag=CLIENT.FOUND_ROWS,
            init_command=f"SET SESSION sql_mode='{SQL_MODE}', time_zone='+00:00'",
            **kwargs,
        )
        return cls(pool, timeouts)

    def _joined(self) -> _MysqlTx | None:
        tx = self._tx_var.get()
        if tx is None or tx.closed or tx.owner is not asyncio.current_task():
            return None
        return tx

    async def _acquire(self) -> aiomysql.Connection:
        """A pooled connection; when all are busy, wait for one, up to `Timeouts.acquire`."""
        seconds = self._timeouts.acquire
        started = time.perf_counter()
        self._waiting += 1
        try:
            async with asyncio.timeout(seconds):
                conn = await self._pool.acquire()
        except TimeoutError:
            count_db_error("mysql", "pool_timeout")
            raise Unavailable(
                "database", f"no database connection within {seconds:g} s, retry"
            ) from None
        except (pymysql.err.MySQLError, OSError) as exc:
            count_db_error("mysql", "connect")
            raise Unavailable("database", f"cannot connect to the database ({exc}), retry") \
                from exc
        finally:
            self._waiting -= 1
        DB_POOL_WAIT.labels("mysql").observe(time.perf_counter() - started)
        return conn

    async def _with_conn(self, op: Op, sql: str, params: Any) -> Any:
        conn = await self._acquire()
        try:
            return await _bounded(op(conn, sql, params), self._timeouts.query, "a statement")
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
        seconds = self._timeouts.query
        conn = await self._acquire()
        tx = _MysqlTx(conn, asyncio.current_task(), self._timeouts)
        token = self._tx_var.set(tx)
        discard = False
        try:
            try:
                await _bounded(conn.begin(), seconds, "BEGIN")
            except BaseException as exc:
                discard = _broken(exc)
                raise
            try:
                yield tx
            except BaseException:
                discard = not await _rollback_quietly(conn, seconds)
                raise
            try:
                await _bounded(conn.commit(), seconds, "COMMIT")
            except BaseException as exc:
                discard = _broken(exc) or not await _rollback_quietly(conn, seconds)
                raise
        finally:
            tx.closed = True
            self._tx_var.reset(token)
            if discard:
                conn.close()
            await self._pool.release(conn)

    def pool_usage(self) -> tuple[int, int, int, int]:
        """(connections in use, open, the pool's maximum, tasks waiting for one), for
        /metrics."""
        pool = self._pool
        return pool.size - pool.freesize, pool.size, pool.maxsize, self._waiting

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.close()
        await self._pool.wait_closed()
