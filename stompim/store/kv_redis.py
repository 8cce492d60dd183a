"""Redis `KeyValue` over redis.asyncio, shared by every node of a cluster.

One client serves commands through a *blocking* connection pool: at most
`KvSettings.pool_max` connections, and a command that finds them all busy waits up to
`pool_timeout` for one (redis-py's default pool raises at once instead, which turned a
burst of 600 requests into 434 errors). Every timeout is set explicitly, whatever the
redis-py version's defaults: connect, each command (`socket_timeout`), health checks of
idle connections; one retry on a broken connection (a stale pooled socket), none on a
timeout, so a command never waits more than about twice `socket_timeout`.

Faults become `Unavailable("redis")`. After one, commands fail at once for `retry_after`
seconds; then a single command probes (the others still fail at once) and a success
closes the circuit. A pool that is merely busy says so ("busy, retry") without opening
the circuit: load is not an outage.

Pub/sub uses one PubSub connection per RedisKeyValue, read by one background listener
task that is started by the first `subscribe()`. The listener resolves subscribe
confirmations itself (so `subscribe()` returns only once Redis has the subscription) and
hands messages to the shared `Dispatcher`, which runs callbacks in order. It polls with a
read timeout (never a blocking read, whose meaning differs between redis-py versions);
when the connection drops, redis-py reconnects and re-subscribes on the next read, and
the listener backs off meanwhile, logging once per interval.

Call order: `kv = await RedisKeyValue.open(url, prefix=..., settings=...)`, use,
`await kv.close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeout

from stompim.errors import KvTypeError, Unavailable
from stompim.logs import detached_context
from stompim.metrics import REDIS_SECONDS, UNAVAILABLE
from stompim.rate_limited_log import RateLimitedLog
from stompim.store.kv import (
    ChannelSubscription,
    Dispatcher,
    KvOp,
    KvSettings,
    SubscriberRegistry,
    Subscription,
    ttl_ms,
)

_log = logging.getLogger(__name__)
_quiet = RateLimitedLog(_log)

T = TypeVar("T")

# INCRBY, and set the expiry only when this call created the key (atomic on the server).
_INCR_WITH_TTL = """
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
"""

SUBSCRIBE_TIMEOUT = 10.0
LISTEN_POLL = 1.0
"""Seconds one pub/sub read waits before the listener loops (and health-checks)."""


class _PoolBusy(RedisConnectionError):
    """Every pooled connection stayed busy for the whole wait."""


class _WaitingPool(BlockingConnectionPool):
    """BlockingConnectionPool that tells "all connections busy" apart from "Redis is down"."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except RedisConnectionError as exc:
            if isinstance(exc.__cause__, TimeoutError) or str(exc) == "No connection available.":
                raise _PoolBusy(str(exc)) from exc
            raise


def _s(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _translate(exc: ResponseError) -> Exception:
    text = str(exc)
    if text.startswith("WRONGTYPE"):
        return KvTypeError(text)
    if "not an integer" in text:
        return ValueError(text)
    return exc


def _batch_result(op: KvOp, value: object) -> object:
    """A pipeline reply -> what the single-command method returns (or the error)."""
    if isinstance(value, ResponseError):
        return _translate(value)
    if isinstance(value, Exception):
        return value
    if op.name == "set":
        return bool(value)
    if op.name == "hdel":
        return int(value)  # type: ignore[call-overload]
    return None


class RedisKeyValue:
    """`KeyValue` on a Redis server. Open with `await RedisKeyValue.open(url, prefix=...)`."""

    def __init__(
        self, client: aioredis.Redis, prefix: str = "stompim", settings: KvSettings | None = None
    ) -> None:
        self._r = client
        self._settings = settings or KvSettings()
        self._prefix = f"{prefix}:" if prefix else ""
        self._incr_script = client.register_script(_INCR_WITH_TTL)
        self._subs = SubscriberRegistry()
        self._dispatcher = Dispatcher()
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._ready: dict[str, asyncio.Future[None]] = {}
        self._sub_lock = asyncio.Lock()
        self._closed = False
        self._down_until = 0.0  # loop time until which commands fail at once
        self._down_reason = ""
        self._probing = False

    @classmethod
    async def open(
        cls, url: str, *, prefix: str = "stompim", settings: KvSettings | None = None
    ) -> RedisKeyValue:
        settings = settings or KvSettings()
        pool = _WaitingPool.from_url(
            url,
            max_connections=settings.pool_max,
            timeout=settings.pool_timeout,
            socket_timeout=settings.socket_timeout,
            socket_connect_timeout=settings.connect_timeout,
            health_check_interval=settings.health_check_interval,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        client = aioredis.Redis(connection_pool=pool)
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            await pool.aclose()
            raise
        return cls(client, prefix, settings)

    def _k(self, key: str) -> str:
        return self._prefix + key

    # -- the one way every command goes -----------------------------------------------
    def _unavailable(self) -> Unavailable:
        return Unavailable(
            "redis", f"redis unavailable ({self._down_reason}), retry",
            retry_after=self._settings.retry_after,
        )

    async def _do(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run one command: fail at once while the circuit is open, else bounded."""
        loop = asyncio.get_running_loop()
        probe = False
        if self._down_until:
            if loop.time() < self._down_until or self._probing:
                UNAVAILABLE.labels("redis", "circuit_open").inc()
                raise self._unavailable()
            probe = self._probing = True
        started = loop.time()
        try:
            result = await step()
        except _PoolBusy:
            UNAVAILABLE.labels("redis", "pool_busy").inc()
            raise Unavailable("redis", "redis busy, retry",
                              retry_after=self._settings.retry_after) from None
        except ResponseError as exc:
            translated = _translate(exc)
            if translated is exc:
                raise
            raise translated from exc
        except (RedisError, OSError) as exc:
            self._down_until = loop.time() + self._settings.retry_after
            self._down_reason = f"{type(exc).__name__}: {exc}"[:200]
            _quiet.warning(("redis", type(exc)), "redis command failed: %s", self._down_reason)
            UNAVAILABLE.labels("redis", "timeout" if isinstance(exc, TimeoutError | RedisTimeout)
                               else "error").inc()
            raise self._unavailable() from exc
        else:
            REDIS_SECONDS.observe(loop.time() - started)
            if probe or self._down_until:
                self._down_until = 0.0
                _log.info("redis answers again")
            return result
        finally:
            if probe:
                self._probing = False

    # -- strings ----------------------------------------------------------------------
    async def get(self, key: str) -> str | None:
        return _s(await self._do(lambda: self._r.get(self._k(key))))

    async def set(
        self, key: str, value: str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        px = ttl_ms(ttl) if ttl is not None else None
        done = await self._do(
            lambda: self._r.set(self._k(key), str(value), px=px, nx=only_if_absent)
        )
        return bool(done)

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._do(lambda: self._r.delete(*(self._k(k) for k in keys))))

    async def exists(self, key: str) -> bool:
        return bool(await self._do(lambda: self._r.exists(self._k(key))))

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        if ttl is None:
            return int(await self._do(lambda: self._r.incrby(self._k(key), int(amount))))
        px = ttl_ms(ttl)
        return int(
            await self._do(lambda: self._incr_script(keys=[self._k(key)], args=[int(amount), px]))
        )

    async def expire(self, key: str, ttl: float) -> None:
        await self._do(lambda: self._r.pexpire(self._k(key), ttl_ms(ttl)))

    async def ttl(self, key: str) -> float | None:
        ms = int(await self._do(lambda: self._r.pttl(self._k(key))))
        return None if ms < 0 else ms / 1000

    # -- hashes -----------------------------------------------------------------------
    async def hset(self, key: str, field: str, value: str) -> None:
        await self._do(lambda: self._r.hset(self._k(key), field, str(value)))

    async def hget(self, key: str, field: str) -> str | None:
        return _s(await self._do(lambda: self._r.hget(self._k(key), field)))

    async def hdel(self, key: str, *fields: str) -> int:
        if not fields:
            return 0
        return int(await self._do(lambda: self._r.hdel(self._k(key), *fields)))

    async def hgetall(self, key: str) -> dict[str, str]:
        raw = await self._do(lambda: self._r.hgetall(self._k(key)))
        return {str(_s(f)): str(_s(v)) for f, v in raw.items()}

    async def ping(self) -> None:
        await self._do(self._r.ping)

    # -- batches ----------------------------------------------------------------------
    async def batch(self, ops: Sequence[KvOp]) -> list[object]:
        """All `ops` in one pipeline (no MULTI), one round trip; see `KeyValue`."""
        if not ops:
            return []
        pipe = self._r.pipeline(transaction=False)
        for op in ops:
            k = self._k(op.key)
            if op.name == "set":
                px = ttl_ms(op.ttl) if op.ttl is not None else None
                pipe.set(k, op.args[0], px=px, nx=op.only_if_absent)
            elif op.name == "expire":
                assert op.ttl is not None
                pipe.pexpire(k, ttl_ms(op.ttl))
            elif op.name == "hset":
                pipe.hset(k, op.args[0], op.args[1])
            else:
                pipe.hdel(k, *op.args)
        raw = await self._do(lambda: pipe.execute(raise_on_error=False))
        return [_batch_result(op, value) for op, value in zip(ops, raw, strict=True)]

    # -- pub/sub ----------------------------------------------------------------------
    async def publish(self, channel: str, data: bytes) -> None:
        await self._do(lambda: self._r.publish(self._k(channel), bytes(data)))

    async def subscribe(self, channel: str, callback: Callable[[bytes], Any]) -> Subscription:
        if self._closed:
            raise RuntimeError("key-value store is closed")
        sub = ChannelSubscription(self, self._k(channel), callback)
        async with self._sub_lock:
            first = self._subs.add(sub)
            if first:
                ready = asyncio.get_running_loop().create_future()
                self._ready[sub.channel] = ready
                if self._pubsub is None:
                    self._pubsub = self._r.pubsub()
                try:
                    await self._do(lambda: self._pubsub.subscribe(sub.channel))
                except BaseException:
                    self._subs.remove(sub)
                    self._ready.pop(sub.channel, None)
                    raise
                if self._listener is None:
                    self._listener = asyncio.get_running_loop().create_task(
                        self._listen(),
                        name="stompim-kv-redis-listener",
                        context=detached_context(),
                    )
            ready = self._ready[sub.channel]
        try:
            await asyncio.wait_for(asyncio.shield(ready), SUBSCRIBE_TIMEOUT)
        except BaseException:
            await sub.close()
            raise
        return sub

    async def _unsubscribe(self, sub: ChannelSubscription) -> None:
        async with self._sub_lock:
            if self._subs.remove(sub):
                ready = self._ready.pop(sub.channel, None)
                if ready is not None and not ready.done():
                    ready.cancel()
                if self._pubsub is not None and not self._closed:
                    with contextlib.suppress(Unavailable):
                        await self._do(lambda: self._pubsub.unsubscribe(sub.channel))

    async def _listen(self) -> None:
        """Read the PubSub connection until cancelled by `close()`."""
        delay = 0.1
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=LISTEN_POLL)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost; redis-py reconnects on the next read
                _quiet.warning(("redis-pubsub", type(exc)),
                               "redis pub/sub read failed (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            if not msg:
                continue
            kind = _s(msg.get("type"))
            channel = _s(msg.get("channel"))
            if channel is None:
                continue
            if kind == "subscribe":
                ready = self._ready.get(channel)
                if ready is not None and not ready.done():
                    ready.set_result(None)
            elif kind == "message":
                data = msg.get("data")
                payload = data if isinstance(data, bytes) else str(data).encode("utf-8")
                self._dispatcher.post(self._subs.snapshot(channel), payload)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._subs.clear()
        for ready in self._ready.values():
            if not ready.done():
                ready.cancel()
        self._ready.clear()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._dispatcher.stop()
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
            self._pubsub = None
        await self._r.aclose()
        await self._r.connection_pool.aclose()
