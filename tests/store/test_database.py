"""The Database interface on both backends: rows as dicts, ExecResult, errors,
transactions (commit, rollback, savepoints, joining only by the owning task, isolation,
serialized updates), 64-bit integers, bounded waits."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from stompim.errors import Unavailable
from stompim.store import (
    Database,
    DuplicateKey,
    ExecResult,
    InvalidValue,
    Timeouts,
    escape_like,
    open_database,
)

_TABLES = {
    "sqlite": [
        "CREATE TABLE IF NOT EXISTS t_parent (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " name VARCHAR(64) NOT NULL UNIQUE, n INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS t_child (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " parent_id INTEGER NOT NULL REFERENCES t_parent(id))",
    ],
    "mysql": [
        "CREATE TABLE IF NOT EXISTS t_parent (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " name VARCHAR(64) NOT NULL, n BIGINT NOT NULL DEFAULT 0,"
        " UNIQUE KEY uk_t_parent_name (name))"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        "CREATE TABLE IF NOT EXISTS t_child (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " parent_id BIGINT NOT NULL, CONSTRAINT fk_t_child_parent FOREIGN KEY (parent_id)"
        " REFERENCES t_parent(id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    ],
}


@pytest.fixture
async def tdb(db: Database) -> Database:
    for stmt in _TABLES[db.dialect]:
        await db.execute(stmt)
    await db.execute("DELETE FROM t_child")
    await db.execute("DELETE FROM t_parent")
    return db


async def test_rows_are_dicts_and_exec_result(tdb: Database) -> None:
    r1 = await tdb.execute("INSERT INTO t_parent (name, n) VALUES (?, ?)", ("a", 1))
    r2 = await tdb.execute("INSERT INTO t_parent (name, n) VALUES (?, ?)", ("b", 2))
    assert isinstance(r1, ExecResult) and r1.rowcount == 1 and r1.lastrowid is not None
    assert r2.lastrowid is not None and r2.lastrowid > r1.lastrowid
    row = await tdb.fetch_one("SELECT id, name, n FROM t_parent WHERE name = ?", ["a"])
    assert row == {"id": r1.lastrowid, "name": "a", "n": 1}
    assert await tdb.fetch_one("SELECT id FROM t_parent WHERE name = ?", ["zz"]) is None
    rows = await tdb.fetch_all("SELECT name, n FROM t_parent ORDER BY n")
    assert rows == [{"name": "a", "n": 1}, {"name": "b", "n": 2}]
    assert await tdb.fetch_val("SELECT COUNT(*) FROM t_parent") == 2
    assert await tdb.fetch_val("SELECT n FROM t_parent WHERE name = ?", ["zz"]) is None
    total = await tdb.fetch_val("SELECT SUM(n) FROM t_parent")
    assert total == 3 and type(total) is int  # MySQL DECIMAL comes back as int
    upd = await tdb.execute("UPDATE t_parent SET n = n WHERE name IN (?, ?)", ["a", "b"])
    assert upd == ExecResult(2, None)  # matched rows, even when nothing changed
    assert await tdb.execute("UPDATE t_parent SET n = 5 WHERE name = ?", ["zz"]) == ExecResult(
        0, None
    )
    assert (await tdb.execute("DELETE FROM t_parent WHERE name = ?", ["b"])).rowcount == 1


async def test_executemany(tdb: Database) -> None:
    res = await tdb.executemany(
        "INSERT INTO t_parent (name, n) VALUES (?, ?)", [(f"m{i}", i) for i in range(50)]
    )
    assert res.rowcount == 50
    assert await tdb.fetch_val("SELECT COUNT(*) FROM t_parent") == 50
    assert await tdb.executemany("INSERT INTO t_parent (name, n) VALUES (?, ?)", []) == ExecResult(
        0, None
    )


async def test_placeholders_and_percent_signs(tdb: Database) -> None:
    assert await tdb.fetch_val("SELECT 'what?'") == "what?"  # `?` inside a literal stays
    assert await tdb.fetch_val("SELECT '100%'") == "100%"
    assert await tdb.fetch_val("SELECT ?", ["%s %d %%"]) == "%s %d %%"
    await tdb.execute("INSERT INTO t_parent (name) VALUES (?)", ["50%_off!"])
    await tdb.execute("INSERT INTO t_parent (name) VALUES (?)", ["50xxoff"])
    rows = await tdb.fetch_all(
        "SELECT name FROM t_parent WHERE name LIKE ? ESCAPE '!'", [escape_like("50%_off!") + "%"]
    )
    assert rows == [{"name": "50%_off!"}]
    like = await tdb.fetch_all("SELECT name FROM t_parent WHERE name LIKE '50%' ORDER BY name")
    assert [r["name"] for r in like] == ["50%_off!", "50xxoff"]


async def test_integrity_errors(tdb: Database) -> None:
    await tdb.execute("INSERT INTO t_parent (name) VALUES (?)", ["dup"])
    with pytest.raises(DuplicateKey, match="name"):
        await tdb.execute("INSERT INTO t_parent (name) VALUES (?)", ["dup"])
    with pytest.raises(InvalidValue):
        await tdb.execute("INSERT INTO t_child (parent_id) VALUES (?)", [10**9])  # foreign key
    with pytest.raises(DuplicateKey):
        await tdb.executemany("INSERT INTO t_parent (name) VALUES (?)", [["x1"], ["dup"]])
    # the database stays usable after errors
    assert await tdb.fetch_val("SELECT COUNT(*) FROM t_parent WHERE name = ?", ["dup"]) == 1


async def test_transaction_commit_and_rollback(tdb: Database) -> None:
    async with tdb.transaction() as tx:
        await tx.execute("INSERT INTO t_parent (name) VALUES (?)", ["kept"])
        assert await tx.fetch_val("SELECT COUNT(*) FROM t_parent") == 1
    with pytest.raises(RuntimeError):
        async with tdb.transaction() as tx:
            await tx.execute("INSERT INTO t_parent (name) VALUES (?)", ["lost"])
            raise RuntimeError("abort")
    with pytest.raises(DuplicateKey):
        async with tdb.transaction() as tx:
            await tx.execute("INSERT INTO t_parent (name) VALUES (?)", ["lost2"])
            await tx.execute("INSERT INTO t_parent (name) VALUES (?)", ["kept"])
    names = [r["name"] for r in await tdb.fetch_all("SELECT name FROM t_parent")]
    assert names == ["kept"]
    with pytest.raises(RuntimeError):
        await tx.fetch_val("SELECT 1")  # a finished transaction refuses statements


async def test_db_calls_inside_a_transaction_join_it(tdb: Database) -> None:
    with pytest.raises(RuntimeError):
        async with tdb.transaction():
            await tdb.execute("INSERT INTO t_parent (name) VALUES (?)", ["joined"])
            assert await tdb.fetch_val("SELECT COUNT(*) FROM t_parent") == 1  # sees own row
            raise RuntimeError("abort")
    assert await tdb.fetch_val("SELECT COUNT(*) FROM t_parent") == 0  # rolled back with it


async def test_a_task_spawned_inside_a_transaction_does_not_join_it(tdb: Database) -> None:
    """The spawned task inherits the context (and so the ambient transaction) but runs
    outside it: its write survives the transaction's rollback, and it never sees the
    transaction's own rows (SQLite: it waits for the transaction to end)."""
    spawned: asyncio.Task[int] | None = None

    async def outside() -> int:
        await tdb.execute("INSERT INTO t_parent (name) VALUES (?)", ["from-the-task"])
        return int(await tdb.fetch_val("SELECT COUNT(*) FROM t_parent WHERE name = ?",
                                       ["in-the-tx"]))

    with pytest.raises(RuntimeError):
        async with tdb.transaction():
            await tdb.execute("INSERT INTO t_parent (name) VALUES (?)", ["in-the-tx"])
            spawned = asyncio.create_task(outside())
            if tdb.dialect == "mysql":  # its own connection: done before the rollback
                assert await asyncio.wait_for(asyncio.shield(spawned), 5) == 0
            raise RuntimeError("roll back")
    assert spawned is not None
    assert await asyncio.wait_for(spawned, 5) == 0  # never saw the uncommitted row
    names = [r["name"] for r in await tdb.fetch_all("SELECT name FROM t_parent")]
    assert names == ["from-the-task"]  # committed on its own; the transaction's row is gone


async def test_integers_outside_64_bits_are_refused_alike(tdb: Database) -> None:
    for fine in (2**63 - 1, -(2**63)):
        assert await tdb.fetch_val("SELECT ?", [fine]) == fine
    for bad in (2**63, -(2**63) - 1, 10**30):
        with pytest.raises(InvalidValue):
            await tdb.execute("INSERT INTO t_parent (name, n) VALUES (?, ?)", ["big", bad])
        with pytest.raises(InvalidValue):
            await tdb.executemany("INSERT INTO t_parent (name, n) VALUES (?, ?)",
                                  [["ok", 1], ["big", bad]])
    assert await tdb.fetch_val("SELECT COUNT(*) FROM t_parent") == 0  # nothing half-written


async def test_sqlite_waiting_for_the_connection_is_bounded(tmp_path: Path) -> None:
    db = await open_database(
        f"sqlite:///{tmp_path / 'busy.db'}", timeouts=Timeouts(acquire=0.2, query=0.2)
    )
    try:
        release = asyncio.Event()
        entered = asyncio.Event()

        async def hold() -> None:
            async with db.transaction():
                entered.set()
                await release.wait()

        holder = asyncio.create_task(hold())
        await entered.wait()
        started = asyncio.get_running_loop().time()
        with pytest.raises(Unavailable, match="database busy"):
            await db.fetch_val("SELECT 1")
        assert asyncio.get_running_loop().time() - started < 1.0
        release.set()
        await holder
        assert await db.fetch_val("SELECT 1") == 1
    finally:
        await db.close()


async def test_nested_transaction_is_a_savepoint(tdb: Database) -> None:
    async with tdb.transaction() as tx:
        await tx.execute("INSERT INTO t_parent (name) VALUES (?)", ["outer"])
        with pytest.raises(RuntimeError):
            async with tdb.transaction() as inner:
                await inner.execute("INSERT INTO t_parent (name) VALUES (?)", ["inner"])
                raise RuntimeError("inner fails")
        async with tdb.transaction() as inner:
            await inner.execute("INSERT INTO t_parent (name) VALUES (?)", ["inner-ok"])
    names = sorted(r["name"] for r in await tdb.fetch_all("SELECT name FROM t_parent"))
    assert names == ["inner-ok", "outer"]


async def test_other_tasks_never_see_uncommitted_rows(tdb: Database) -> None:
    await tdb.execute("INSERT INTO t_parent (name, n) VALUES (?, ?)", ["x", 0])
    seen: list[int] = []
    stop = asyncio.Event()

    async def reader() -> None:
        for _ in range(200):
            seen.append(await tdb.fetch_val("SELECT n FROM t_parent WHERE name = ?", ["x"]))
            if stop.is_set():
                return
            await asyncio.sleep(0)

    task = asyncio.create_task(reader())
    await asyncio.sleep(0)
    async with tdb.transaction() as tx:
        await tx.execute("UPDATE t_parent SET n = 1 WHERE name = ?", ["x"])
        await asyncio.sleep(0.05)
        await tx.execute("UPDATE t_parent SET n = 2 WHERE name = ?", ["x"])
    stop.set()
    await asyncio.wait_for(task, 10)
    assert 1 not in seen  # intermediate state never leaks out of the transaction
    assert await tdb.fetch_val("SELECT n FROM t_parent WHERE name = ?", ["x"]) == 2


async def test_read_modify_write_transactions_are_serialized(tdb: Database) -> None:
    await tdb.execute("INSERT INTO t_parent (name, n) VALUES (?, ?)", ["counter", 0])
    lock = " FOR UPDATE" if tdb.dialect == "mysql" else ""

    async def bump() -> None:
        async with tdb.transaction() as tx:
            n = await tx.fetch_val(f"SELECT n FROM t_parent WHERE name = ?{lock}", ["counter"])
            await asyncio.sleep(0)
            await tx.execute("UPDATE t_parent SET n = ? WHERE name = ?", [n + 1, "counter"])

    await asyncio.gather(*(bump() for _ in range(20)))
    assert await tdb.fetch_val("SELECT n FROM t_parent WHERE name = ?", ["counter"]) == 20


async def test_cancelled_statement_leaves_database_usable(tdb: Database) -> None:
    async def slow_tx() -> None:
        async with tdb.transaction() as tx:
            await tx.execute("INSERT INTO t_parent (name) VALUES (?)", ["cancelled"])
            await asyncio.sleep(10)

    task = asyncio.create_task(slow_tx())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await tdb.fetch_val("SELECT COUNT(*) FROM t_parent") == 0
    await tdb.execute("INSERT INTO t_parent (name) VALUES (?)", ["after"])
    assert await tdb.fetch_val("SELECT COUNT(*) FROM t_parent") == 1


@pytest.mark.mysql
async def test_mysql_cancelled_query_does_not_poison_the_pool(mysql_db: Database) -> None:
    task = asyncio.create_task(mysql_db.fetch_val("SELECT SLEEP(2)"))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the half-used connection was discarded, not handed to the next statement
    for _ in range(12):
        assert await asyncio.wait_for(mysql_db.fetch_val("SELECT 7"), 1.5) == 7


async def test_sqlite_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "x.db"
    db = await open_database(f"sqlite:///{path}")
    try:
        assert path.parent.is_dir()
        assert await db.fetch_val("PRAGMA journal_mode") == "wal"
        assert await db.fetch_val("PRAGMA foreign_keys") == 1
        assert await db.fetch_val("PRAGMA busy_timeout") >= 1000
    finally:
        await db.close()
    await db.close()  # idempotent
    db = await open_database("sqlite:///:memory:")
    try:
        assert db.dialect == "sqlite"
        assert await db.fetch_val("SELECT 1 + 1") == 2
    finally:
        await db.close()


async def test_unknown_scheme() -> None:
    with pytest.raises(ValueError):
        await open_database("postgres://x/y")


def test_sqlite_integrity_error_is_mapped() -> None:
    assert not issubclass(DuplicateKey, sqlite3.IntegrityError)  # one class for both backends
