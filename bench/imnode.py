"""A stompim node for the IM scenarios on the database they name: MariaDB or SQLite.

MariaDB: a throw-away database `stompim_bench_*` (bench/mariadb.py), dropped on exit.
SQLite: a file in a temp folder that the generator owns (not the node's own temp
folder), so the database-ceiling loop can open the very file after the node stopped;
removed on exit. The node runs with stompim's own defaults for that database (WAL,
synchronous=NORMAL on SQLite: see stompim/store/_sqlite.py).

With `batch_log=True` the node is started through bench.stompim_counted, which
records the size of every chat batch it writes into `db.batch_log`.

Call order: `async with im_database("sqlite", "c") as db:`, inside it
`async with im_node(db, opts) as target: ...`; once the node has stopped, `db.url`
and `db.batch_log` stay valid until the `im_database` block ends (chat_db.py runs
the ceiling loop there).
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

from bench import mariadb
from bench.targets import Options, Target, start_target

DATABASES = ("sqlite", "mariadb")


@dataclass
class ImDatabase:
    kind: str  # "sqlite" or "mariadb"
    url: str
    name: str  # MariaDB schema name, or the SQLite file path
    folder: Path  # where the batch log (and the SQLite file) live

    @property
    def batch_log(self) -> Path:
        return self.folder / "batches.log"


@contextlib.asynccontextmanager
async def im_database(kind: str, tag: str) -> AsyncIterator[ImDatabase]:
    """An empty database of `kind` for one node, removed on exit."""
    if kind not in DATABASES:
        raise ValueError(f"database {kind!r}: use one of {', '.join(DATABASES)}")
    folder = Path(tempfile.mkdtemp(prefix=f"stompim-bench-{kind}-"))
    try:
        if kind == "sqlite":
            path = folder / "chat.db"
            yield ImDatabase(kind, f"sqlite:///{path}", str(path), folder)
        else:
            url, name = await mariadb.create_database(tag)
            try:
                yield ImDatabase(kind, url, name, folder)
            finally:
                await mariadb.drop_database(name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def im_node(
    db: ImDatabase, opts: Options, *, batch_log: bool = False
) -> AsyncIterator[Target]:
    """A stompim node on `db` with accounts required (no anonymous CONNECT). A node on
    MySQL/MariaDB refuses to start without `auth.jwt_secret` (every node of a cluster
    must sign alike), so the bench gives it a fresh one."""
    env = tuple(opts.extra_env)
    if not db.url.startswith("sqlite"):
        env += (("STOMPIM_AUTH_JWT_SECRET", secrets.token_hex(32)),)
    module = opts.module
    if batch_log:
        env += (("BENCH_BATCH_LOG", str(db.batch_log)),)
        module = "bench.stompim_counted"
    node_opts = replace(opts, database_url=db.url, anonymous=False, extra_env=env, module=module)
    async with start_target("stompim", node_opts) as target:
        yield target


async def database_version(kind: str) -> str:
    """What the node stored into, for the results: server version and commit settings."""
    if kind == "mariadb":
        return await mariadb.server_version()
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version} (aiosqlite; stompim's WAL, synchronous=NORMAL)"
