"""Shared fixtures for every test area: `db` (SQLite and MySQL) and `kv` (memory and Redis).

Services: MariaDB/MySQL at $STOMPIM_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/)
and Redis at $STOMPIM_TEST_REDIS_URL (default redis://127.0.0.1:6379/0). A test whose
service is unreachable is skipped with the reason, or fails under STOMPIM_REQUIRE_SERVICES=1
(CI must never pass because a backend silently did not run). Parameters that need a service
carry the `mysql` / `redis` marker, so `-m "not mysql and not redis"` runs embedded only.

Isolation (why it is fast and still independent):
* sqlite: every test gets a fresh migrated database file under tmp_path.
* mysql: one database `stompim_test_<random>` per pytest process (session), created and
  migrated once, dropped at the end. Before each test the `db` fixture empties every table
  except schema_version (DELETE with foreign-key checks off), so each test starts from
  empty tables. Auto-increment counters are NOT reset: never assume id 1.
* kv: every test gets its own random prefix; its keys are deleted afterwards.

Helpers for other areas (plain functions, importable as `from conftest import ...`, and
fixtures): `require_services()`, `unavailable(reason)`, `mysql_available()`,
`redis_available()`, `mysql_url_for_new_database()` (context manager: a fresh empty
database, dropped on exit), fixtures `mysql_session_url`, `sqlite_db`, `mysql_db`,
`memory_kv`, `redis_kv`, `kv_prefix`, `redis_url`, `json_logs` (the node's JSON log
handler on a buffer for one test; returns the parsed lines).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

import pytest

from stompim.store import Database, KeyValue, migrate, open_database, open_kv

MYSQL_SERVER_URL = os.environ.get("STOMPIM_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/")
REDIS_URL = os.environ.get("STOMPIM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


# -- availability ---------------------------------------------------------------------
def require_services() -> bool:
    """True under STOMPIM_REQUIRE_SERVICES=1: a missing service fails instead of skipping."""
    return os.environ.get("STOMPIM_REQUIRE_SERVICES", "") == "1"


def unavailable(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it under STOMPIM_REQUIRE_SERVICES=1."""
    if require_services():
        pytest.fail(f"{reason} (STOMPIM_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def mysql_available() -> bool:
    parts = urlsplit(MYSQL_SERVER_URL)
    return _port_open(parts.hostname or "127.0.0.1", parts.port or 3306)


def redis_available() -> bool:
    parts = urlsplit(REDIS_URL)
    return _port_open(parts.hostname or "127.0.0.1", parts.port or 6379)


# -- mysql databases ------------------------------------------------------------------
def _server_connection():  # type: ignore[no-untyped-def]
    import pymysql

    parts = urlsplit(MYSQL_SERVER_URL)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        charset="utf8mb4",
        autocommit=True,
    )


@contextmanager
def mysql_url_for_new_database(prefix: str = "stompim_test") -> Iterator[str]:
    """Create an empty utf8mb4 database with a random name, yield its URL, drop it on exit.

    Skips (or fails under STOMPIM_REQUIRE_SERVICES=1) when the server is unreachable.
    Synchronous on purpose: use it from sync (e.g. session-scoped) fixtures.
    """
    if not mysql_available():
        unavailable(f"MySQL/MariaDB not reachable at {MYSQL_SERVER_URL}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        conn = _server_connection()
    except Exception as exc:
        unavailable(f"cannot log in to MySQL at {MYSQL_SERVER_URL}: {exc}")
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
        parts = urlsplit(MYSQL_SERVER_URL)
        yield f"{parts.scheme}://{parts.netloc}/{name}"
    finally:
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()


def _run_private_loop(coro) -> None:  # type: ignore[no-untyped-def]
    """Run `coro` on a new loop that is never installed as the current one."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coro)
    finally:
        loop.close()


async def _migrate_url(url: str) -> None:
    db = await open_database(url, pool_min=1, pool_max=1)
    try:
        await migrate(db)
    finally:
        await db.close()


async def empty_all_tables(db: Database) -> None:
    """MySQL: delete every row of every table but schema_version (one connection)."""
    async with db.transaction() as tx:
        tables = await tx.fetch_all(
            "SELECT table_name AS name FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
        )
        await tx.execute("SET FOREIGN_KEY_CHECKS = 0")
        try:
            for row in tables:
                if row["name"] != "schema_version":
                    await tx.execute(f"DELETE FROM `{row['name']}`")
        finally:
            await tx.execute("SET FOREIGN_KEY_CHECKS = 1")


# -- fixtures -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def mysql_session_url() -> Iterator[str]:
    """URL of this pytest process's migrated MySQL test database (dropped at the end)."""
    with mysql_url_for_new_database() as url:
        _run_private_loop(_migrate_url(url))
        yield url


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_database(f"sqlite:///{tmp_path / 'stompim-test.db'}")
    try:
        await migrate(db)
        yield db
    finally:
        await db.close()


@pytest.fixture
async def mysql_db(mysql_session_url: str) -> AsyncIterator[Database]:
    db = await open_database(mysql_session_url, pool_min=1, pool_max=10)
    try:
        await empty_all_tables(db)
        yield db
    finally:
        await db.close()


@pytest.fixture(
    params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)],
)
def db(request: pytest.FixtureRequest) -> Database:
    """A migrated, empty Database on each backend (see the module docstring).

    A sync fixture on purpose: it picks the async backend fixture by name, and
    getfixturevalue() must not be called from inside the running event loop."""
    name = "sqlite_db" if request.param == "sqlite" else "mysql_db"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def kv_prefix() -> str:
    return f"stompim_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_url() -> str:
    if not redis_available():
        unavailable(f"Redis not reachable at {REDIS_URL}")
    return REDIS_URL


async def _delete_prefixed(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def memory_kv(kv_prefix: str) -> AsyncIterator[KeyValue]:
    kv = await open_kv("", prefix=kv_prefix)
    try:
        yield kv
    finally:
        await kv.close()


@pytest.fixture
async def redis_kv(redis_url: str, kv_prefix: str) -> AsyncIterator[KeyValue]:
    kv = await open_kv(redis_url, prefix=kv_prefix)
    try:
        yield kv
    finally:
        await kv.close()
        await _delete_prefixed(redis_url, kv_prefix)


@pytest.fixture(
    params=["memory", pytest.param("redis", marks=pytest.mark.redis)],
)
def kv(request: pytest.FixtureRequest) -> KeyValue:
    """A KeyValue with a unique prefix on each implementation, cleaned afterwards (sync
    for the same reason as `db`)."""
    name = "memory_kv" if request.param == "memory" else "redis_kv"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


# -- whole-node backends ----------------------------------------------------------------
@pytest.fixture(
    params=["sqlite", pytest.param("mysql+redis", marks=[pytest.mark.mysql, pytest.mark.redis])]
)
def node_backend(
    request: pytest.FixtureRequest, tmp_path: Path, kv_prefix: str
) -> Iterator[dict[str, dict[str, str]]]:
    """Config sections for a whole Node on each deployment: the embedded default (SQLite
    file, in-process KV) and production (a fresh MariaDB database + Redis under a unique
    prefix, both removed afterwards). Sync, so threaded tests (stomp.py) can use it."""
    if request.param == "sqlite":
        yield {"database": {"url": f"sqlite:///{tmp_path / 'node.db'}"}, "redis": {"url": ""}}
        return
    if not redis_available():
        unavailable(f"Redis not reachable at {REDIS_URL}")
    with mysql_url_for_new_database() as url:
        try:
            yield {
                "database": {"url": url},
                "redis": {"url": REDIS_URL, "channel_prefix": kv_prefix},
            }
        finally:
            _run_private_loop(_delete_prefixed(REDIS_URL, kv_prefix))


# -- logs ---------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`stompim.cli.main` (and `json_logs`) install the node's log handler on the root
    logger; every test ends with the handlers and levels it started with."""
    names = ("", "stompim", "stompim.http.access")
    loggers = [logging.getLogger(name or None) for name in names]
    before = [(list(lg.handlers), lg.level) for lg in loggers]
    yield
    for logger, (handlers, level) in zip(loggers, before, strict=True):
        for handler in list(logger.handlers):
            if handler not in handlers:
                logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def json_logs() -> Callable[[], list[dict[str, Any]]]:
    """The node's log handler (stompim.logs.configure, JSON, DEBUG) writing to a buffer
    for one test, removed afterwards; calling the fixture's value parses every line
    written so far (a line that is not one JSON object fails the test)."""
    from stompim import logs

    buffer = io.StringIO()
    logs.configure("json", "DEBUG", stream=buffer)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    return lines  # _restore_logging removes the handler afterwards


# -- S3-compatible object store (media) ---------------------------------------------------
@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """moto's S3 server on a loopback port for the whole run (see tests/_s3server.py);
    `s3_server.media_config()` gives a `media` config section on a fresh bucket."""
    from _s3server import S3Server, moto_command

    command = moto_command()
    if command is None:
        unavailable("moto_server is not installed (pip install -e '.[test]')")
    server = S3Server.start(command, tmp_path_factory.mktemp("s3") / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def media_section(
    request: pytest.FixtureRequest, tmp_path: Path
) -> dict[str, Any]:
    """A `media` config section on each store: a folder under tmp_path, or a fresh
    bucket of the moto S3 server (redirecting downloads to the store, as shipped)."""
    if request.param == "local":
        return {"storage": "local", "local_dir": str(tmp_path / "media")}
    server = request.getfixturevalue("s3_server")
    return server.media_config(spool_dir=str(tmp_path / "spool"))  # type: ignore[no-any-return]
