"""The one small async SQL interface every repository uses, and how to open it.

Two backends implement `Database`: SQLite through one aiosqlite connection (the embedded
default) and MySQL/MariaDB through an aiomysql pool. Repositories write portable SQL with
`?` placeholders; the only dialect branches (upserts, `FOR UPDATE`) test `db.dialect`.

Call order: `db = await open_database(url)`, then `await migrate(db)`
(stompim.store.migrate), then queries, then `await db.close()` once at shutdown.

Transactions: `async with db.transaction() as tx:` commits on normal exit and rolls back
when the block raises. While a transaction is open, plain `db.*` calls made by the task
that opened it run inside it, so helper functions that take `db` work unchanged inside
one. Only that task: a task spawned inside the block (create_task, gather) inherits the
context but never joins the transaction; its `db.*` calls run outside it (on SQLite they
wait for the transaction to end, bounded by the acquire timeout), so no background work
commits or rolls back with a transaction by accident. Hand such a task `tx` itself when
it must share the transaction. A nested `db.transaction()` becomes a SAVEPOINT: its
failure rolls back only its own statements. On SQLite every transaction is
`BEGIN IMMEDIATE` and transactions plus statements are serialized by the backend, so
read-modify-write inside a transaction is safe there without `FOR UPDATE`.

Faults are bounded in time (`Timeouts`, from config [database]): connecting, waiting for
a connection (the MySQL pool, the one SQLite connection) and each statement. A dependency
that does not answer in time, or refuses, raises `stompim.errors.Unavailable("database")`;
nothing else waits on it.

Errors: a unique key raises `DuplicateKey`; a value the database refuses (an integer
outside signed 64 bits, checked here before it is sent so SQLite and MySQL agree; NULL
in a NOT NULL column; a string too long) raises `InvalidValue`; both are
`stompim.errors.StoreError` and mean "this statement's input", never "the database".

`ExecResult.lastrowid` is the auto-increment id of the row a plain single-row INSERT
created; it is None when nothing was inserted or the statement was not an INSERT. After an
upsert (`ON CONFLICT` / `ON DUPLICATE KEY`) read the id back with a SELECT instead: the two
engines disagree about what it means there.
`ExecResult.rowcount` of an UPDATE counts matched rows on both backends (MySQL connections
use CLIENT.FOUND_ROWS), so `rowcount == 0` means "no such row", not "nothing changed".
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from stompim.errors import DuplicateKey, InvalidValue, Unavailable
from stompim.metrics import DB_ERRORS, UNAVAILABLE

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class ExecResult(NamedTuple):
    """What a write statement did: rows affected (matched, for UPDATE) and the new id."""

    rowcount: int
    lastrowid: int | None


@dataclass(frozen=True)
class Timeouts:
    """How long the database may take, in seconds (config [database] *_timeout_ms).

    `connect`: opening one connection (MySQL); `acquire`: waiting for a connection of
    the pool, or for SQLite's one connection; `query`: one statement, COMMIT included
    (SQLite: its busy timeout).
    """

    connect: float = 3.0
    acquire: float = 3.0
    query: float = 5.0


def checked_params(params: Sequence[Any]) -> tuple[Any, ...]:
    """`params` as a tuple, refusing integers SQL cannot hold (signed 64 bits).

    SQLite raises OverflowError from deep inside its driver and MySQL answers
    "out of range" for one column only; checking here makes both refuse the same
    value the same way, as InvalidValue, before anything is sent.
    """
    for value in params:
        if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
            raise InvalidValue(f"integer {str(value)[:24]} is outside the signed 64-bit range")
    return tuple(params)


@runtime_checkable
class Tx(Protocol):
    """The query half of `Database`, bound to one open transaction."""

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None: ...

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    async def fetch_val(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> ExecResult: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> ExecResult: ...


@runtime_checkable
class Database(Tx, Protocol):
    """An open database: queries, transactions, close. `dialect` is "sqlite" or "mysql"."""

    dialect: str

    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    async def close(self) -> None: ...


_UNAVAILABLE_KINDS = frozenset({"timeout", "pool_timeout", "connect", "unavailable"})


def count_db_error(backend: str, error: BaseException | str | None) -> None:
    """Count one failed round trip in stompim_db_errors_total by kind: a translated
    error (duplicate, invalid, unavailable), a kind by name (timeout, pool_timeout,
    connect), or None (an engine error no translation knows: "other").  The kinds
    that mean "the database did not answer" count in stompim_dependency_unavailable_total
    too."""
    if isinstance(error, str):
        kind = error
    elif isinstance(error, DuplicateKey):
        kind = "duplicate"
    elif isinstance(error, InvalidValue):
        kind = "invalid"
    elif isinstance(error, Unavailable):
        kind = "unavailable"
    else:
        kind = "other"
    DB_ERRORS.labels(backend, kind).inc()
    if kind in _UNAVAILABLE_KINDS:
        UNAVAILABLE.labels("database", kind).inc()


def escape_like(text: str) -> str:
    """Escape `text` for a portable `LIKE ? ESCAPE '!'` pattern (both engines accept '!').

    Example: `db.fetch_all("... WHERE nickname LIKE ? ESCAPE '!'", [escape_like(k) + "%"])`.
    """
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def is_insert(sql: str) -> bool:
    """True when the statement's first keyword is INSERT or REPLACE (lastrowid is meaningful)."""
    head = sql.lstrip().split(None, 1)
    return bool(head) and head[0].upper() in ("INSERT", "REPLACE")


async def open_database(
    url: str, *, pool_min: int = 1, pool_max: int = 10, timeouts: Timeouts | None = None
) -> Database:
    """Open the database named by `url`.

    "sqlite:///./stompim.db" (relative path), "sqlite:////abs/path.db", "sqlite:///:memory:",
    "mysql://user:pass@host:3306/dbname?charset=utf8mb4" (also mariadb://). The pool
    sizes apply to MySQL only; SQLite always uses one connection.
    """
    timeouts = timeouts or Timeouts()
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from stompim.store._sqlite import SqliteDatabase

        return await SqliteDatabase.open(url, timeouts=timeouts)
    if scheme in ("mysql", "mariadb", "mysql+aiomysql"):
        from stompim.store._mysql import MysqlDatabase

        return await MysqlDatabase.open(
            url, pool_min=pool_min, pool_max=pool_max, timeouts=timeouts
        )
    raise ValueError(f"unsupported database url scheme {scheme!r} (use sqlite:// or mysql://)")
