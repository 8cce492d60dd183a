"""The store behind a fault: MariaDB and Redis through the proxy, hung then refused then
back. Every call is answered within its timeout (Unavailable, never a hang), a known
outage fails fast, and the same Database / KeyValue works again after recovery, without
reopening it. Times are measured and bounded generously (the machine is shared)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from stompim.errors import Unavailable
from stompim.im.tokens import TokenService
from stompim.store import Database, KeyValue, KvSettings, Timeouts, open_database, open_kv

from .conftest import proxied
from .proxy import Mode, TcpProxy

SECRET = "fault-tests-secret-of-stompim-0123456789"
TIMEOUTS = Timeouts(connect=0.5, acquire=0.5, query=0.5)
KV_SETTINGS = KvSettings(
    pool_max=4, pool_timeout=0.5, connect_timeout=0.3, socket_timeout=0.3, retry_after=0.5
)


async def _timed_failure(call: object) -> float:
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await call  # type: ignore[misc]
    return time.monotonic() - started


@pytest.fixture
async def proxied_mysql(
    mysql_proxy: TcpProxy, mysql_session_url: str
) -> AsyncIterator[Database]:
    db = await open_database(
        proxied(mysql_session_url, mysql_proxy), pool_min=1, pool_max=2, timeouts=TIMEOUTS
    )
    try:
        yield db
    finally:
        await mysql_proxy.set_mode(Mode.PASS)
        await db.close()


@pytest.fixture
async def proxied_redis(
    redis_proxy: TcpProxy, redis_url: str, kv_prefix: str
) -> AsyncIterator[KeyValue]:
    kv = await open_kv(proxied(redis_url, redis_proxy), prefix=kv_prefix, settings=KV_SETTINGS)
    try:
        yield kv
    finally:
        await redis_proxy.set_mode(Mode.PASS)
        await kv.close()


@pytest.mark.mysql
async def test_mysql_hung_then_refused_then_back(
    proxied_mysql: Database, mysql_proxy: TcpProxy
) -> None:
    db = proxied_mysql
    assert await db.fetch_val("SELECT 1") == 1

    await mysql_proxy.set_mode(Mode.BLACKHOLE)
    took = await _timed_failure(db.fetch_val("SELECT 1"))
    assert 0.4 < took < 2.0  # the statement timeout, not a hang
    took = await _timed_failure(_in_transaction(db))
    assert took < 2.0

    await mysql_proxy.set_mode(Mode.REFUSE)
    assert await _timed_failure(db.fetch_val("SELECT 1")) < 1.0

    await mysql_proxy.set_mode(Mode.PASS)
    assert await db.fetch_val("SELECT 1") == 1  # the same pool, reconnected
    assert await _in_transaction(db) == 1


async def _in_transaction(db: Database) -> int:
    async with db.transaction() as tx:
        return int(await tx.fetch_val("SELECT 1"))


@pytest.mark.mysql
async def test_mysql_pool_waits_for_a_connection_and_bounds_the_wait(
    mysql_session_url: str,
) -> None:
    db = await open_database(mysql_session_url, pool_min=1, pool_max=2, timeouts=TIMEOUTS)
    try:
        # 50 statements on 2 connections: they wait their turn instead of failing
        assert await asyncio.gather(*(db.fetch_val("SELECT 1") for _ in range(50))) == [1] * 50
        # both connections held longer than the acquire timeout: the third waits, bounded
        release = asyncio.Event()

        async def hold() -> None:
            async with db.transaction():
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        await asyncio.sleep(0.1)
        assert await _timed_failure(db.fetch_val("SELECT 1")) < 1.5
        release.set()
        await asyncio.gather(*holders)
        assert await db.fetch_val("SELECT 1") == 1
    finally:
        await db.close()


@pytest.mark.mysql
async def test_mysql_statement_timeout_discards_the_connection(mysql_session_url: str) -> None:
    db = await open_database(mysql_session_url, pool_min=1, pool_max=1, timeouts=TIMEOUTS)
    try:
        assert await _timed_failure(db.fetch_val("SELECT SLEEP(3)")) < 1.5
        assert await db.fetch_val("SELECT 2") == 2  # a fresh connection, not a stuck one
    finally:
        await db.close()


@pytest.mark.redis
async def test_redis_hung_fails_fast_once_known_then_recovers(
    proxied_redis: KeyValue, redis_proxy: TcpProxy
) -> None:
    kv = proxied_redis
    await kv.set("k", "v")
    await redis_proxy.set_mode(Mode.BLACKHOLE)
    first = await _timed_failure(kv.get("k"))
    assert 0.25 < first < 1.5  # the socket timeout, explicitly set
    later = await _timed_failure(kv.get("k"))
    assert later < 0.05  # known down: refused at once
    await redis_proxy.set_mode(Mode.PASS)
    await asyncio.sleep(KV_SETTINGS.retry_after)
    assert await kv.get("k") == "v"  # one probe closes the circuit
    await redis_proxy.set_mode(Mode.REFUSE)
    assert await _timed_failure(kv.hget("h", "f")) < 1.0
    await redis_proxy.set_mode(Mode.PASS)
    await asyncio.sleep(KV_SETTINGS.retry_after)
    assert await kv.get("k") == "v"


@pytest.mark.redis
async def test_redis_pool_waits_rather_than_fails(redis_url: str, kv_prefix: str) -> None:
    settings = KvSettings(pool_max=4, pool_timeout=5.0)  # 4 connections, default timeouts
    kv = await open_kv(redis_url, prefix=kv_prefix, settings=settings)
    try:
        got = await asyncio.gather(*(kv.incr("n") for _ in range(600)))
        assert sorted(got) == list(range(1, 601))
    finally:
        await kv.delete("n")
        await kv.close()


@pytest.mark.redis
async def test_token_check_uses_the_recent_cache_only_while_redis_is_down(
    proxied_redis: KeyValue, redis_proxy: TcpProxy
) -> None:
    tokens = TokenService(proxied_redis, SECRET, 3600, cache_seconds=30)
    seen = await tokens.issue(1, "alice")
    unseen = await tokens.issue(2, "bob")
    assert (await tokens.validate(seen.token)).user_id == 1  # verified: remembered

    await redis_proxy.set_mode(Mode.REFUSE)
    assert (await tokens.validate(seen.token)).user_id == 1  # a blip logs nobody out
    assert await _timed_failure(tokens.validate(unseen.token)) < 1.0  # fail closed, fast
    await redis_proxy.set_mode(Mode.PASS)
    await asyncio.sleep(KV_SETTINGS.retry_after)
    assert (await tokens.validate(unseen.token)).user_id == 2

    expired = TokenService(proxied_redis, SECRET, 3600, cache_seconds=0)
    await expired.validate(seen.token)
    await redis_proxy.set_mode(Mode.REFUSE)
    assert await _timed_failure(expired.validate(seen.token)) < 1.0  # cache off: refused
