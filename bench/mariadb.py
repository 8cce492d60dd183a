"""MariaDB for the IM scenarios: a throw-away database, and rows changed per table.

`rows_changed(db)` reads `information_schema.TABLE_STATISTICS` (MariaDB's user
statistics), which counts rows changed per table of one schema only — other users
of the server do not disturb it. It needs `userstat=1`: `userstat_on()` switches it
on and returns the previous value; `userstat_restore()` puts it back.

Call order: `url, name = await create_database()`, ..., `await drop_database(name)`.
"""

from __future__ import annotations

import os
import warnings

import aiomysql

HOST, PORT, USER = "127.0.0.1", 3306, "root"


async def _conn() -> aiomysql.Connection:
    return await aiomysql.connect(host=HOST, port=PORT, user=USER, password="", autocommit=True)


async def _exec(sql: str, *args: object) -> list[tuple]:
    conn = await _conn()
    try:
        async with conn.cursor() as cur:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "database doesn't exist" on DROP IF EXISTS
                await cur.execute(sql, args or None)
            return list(await cur.fetchall())
    finally:
        conn.close()


def url_for(name: str) -> str:
    """The stompim database URL of bench database `name`."""
    return f"mysql://{USER}@{HOST}:{PORT}/{name}"


async def create_database(tag: str) -> tuple[str, str]:
    name = f"stompim_bench_{tag}_{os.getpid()}"
    await _exec(f"DROP DATABASE IF EXISTS `{name}`")
    await _exec(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return url_for(name), name


async def drop_database(name: str) -> None:
    await _exec(f"DROP DATABASE IF EXISTS `{name}`")


async def userstat_on() -> int:
    prev = int((await _exec("SELECT @@global.userstat"))[0][0])
    if not prev:
        await _exec("SET GLOBAL userstat = 1")
    return prev


async def userstat_restore(prev: int) -> None:
    if not prev:
        await _exec("SET GLOBAL userstat = 0")


async def rows_changed(schema: str) -> dict[str, int]:
    rows = await _exec(
        "SELECT TABLE_NAME, ROWS_CHANGED FROM information_schema.TABLE_STATISTICS "
        "WHERE TABLE_SCHEMA = %s", schema)
    return {str(t): int(n) for t, n in rows}


async def reachable() -> str | None:
    try:
        await _exec("SELECT 1")
    except Exception as exc:
        return f"MariaDB at {HOST}:{PORT} unreachable: {exc}"
    return None


def server_pid() -> int | None:
    """The MariaDB server's pid (for its CPU), or None when it runs elsewhere."""
    import psutil

    for p in psutil.process_iter(["name"]):
        if p.info["name"] in ("mariadbd", "mysqld"):
            return int(p.pid)
    return None


async def server_version() -> str:
    """Version and the settings that decide what a commit costs (for the results)."""
    row = (await _exec(
        "SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@log_bin, @@sync_binlog,"
        " @@innodb_buffer_pool_size"
    ))[0]
    return (f"MariaDB {row[0]}, innodb_flush_log_at_trx_commit={row[1]}, log_bin={row[2]},"
            f" sync_binlog={row[3]}, innodb_buffer_pool_size={int(row[4]) // 2**20} MB")
