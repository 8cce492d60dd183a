"""The one small async SQL interface every repository uses, and how to open it.

Two backends implement `Database`: SQLite through one aiosqlite connection (the embedded
default) and MySQL/MariaDB through an aiomysql pool. Repositories write portable SQL with
`?` placeholders; the only dialect branches (upserts, `FOR UPDATE`) test `db.dialect`.

Call order: `db = await open_database(url)`, then `await migrate(db)`
(stompim.store.migrate), then queries, then `await db.close()` once at shutdown.

Transactions: `async with db.transaction() as tx:` commits on normal exit and rolls back
when the block raises. While a transaction is open in a task, plain `db.*` calls made from
that task (and tasks it spawns) run inside the same transaction, so helper functions that
take `db` work unchanged inside one. A nested `db.transaction()` becomes a SAVEPOINT: its
failure rolls back only its own statements. On SQLite every transaction is
`BEGIN IMMEDIATE` and transactions plus statements are serialized by the backend, so
read-modify-write inside a transaction is safe there without `FOR UPDATE`.

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
from typing import Any, NamedTuple, Protocol, runtime_checkable


class ExecResult(NamedTuple):
    """What a write statement did: rows affected (matched, for UPDATE) and the new id."""

    rowcount: int
    lastrowid: int | None


class IntegrityError(Exception):
    """A unique or foreign-key constraint refused the statement (same class on every backend).

    The message is the engine's own text; it names the violated column or key
    (`UNIQUE constraint failed: users.phone`, `Duplicate entry ... for key 'uk_users_phone'`).
    """


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


def escape_like(text: str) -> str:
    """Escape `text` for a portable `LIKE ? ESCAPE '!'` pattern (both engines accept '!').

    Example: `db.fetch_all("... WHERE nickname LIKE ? ESCAPE '!'", [escape_like(k) + "%"])`.
    """
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def is_insert(sql: str) -> bool:
    """True when the statement's first keyword is INSERT or REPLACE (lastrowid is meaningful)."""
    head = sql.lstrip().split(None, 1)
    return bool(head) and head[0].upper() in ("INSERT", "REPLACE")


async def open_database(url: str, *, pool_min: int = 1, pool_max: int = 10) -> Database:
    """Open the database named by `url`.

    "sqlite:///./stompim.db" (relative path), "sqlite:////abs/path.db", "sqlite:///:memory:",
    "mysql://user:pass@host:3306/dbname?charset=utf8mb4" (also mariadb://). The pool
    sizes apply to MySQL only; SQLite always uses one connection.
    """
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from stompim.store._sqlite import SqliteDatabase

        return await SqliteDatabase.open(url)
    if scheme in ("mysql", "mariadb", "mysql+aiomysql"):
        from stompim.store._mysql import MysqlDatabase

        return await MysqlDatabase.open(url, pool_min=pool_min, pool_max=pool_max)
    raise ValueError(f"unsupported database url scheme {scheme!r} (use sqlite:// or mysql://)")
