"""Redis `KeyValue` over redis.asyncio, shared by every node of a cluster.

One client (connection pool, bytes in and out; strings are decoded here) serves commands.
Pub/sub uses one PubSub connection per RedisKeyValue, read by one background listener task
that is started by the first `subscribe()`. The listener resolves subscribe confirmations
itself (so `subscribe()` returns only once Redis has the subscription) and hands messages
to the shared `Dispatcher`, which runs callbacks in order. When the connection drops,
redis-py reconnects and re-subscribes on the next read; the listener backs off meanwhile.

Call order: `kv = await RedisKeyValue.open(url, prefix=...)`, use, `await kv.close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from stompim.logs import detached_context
from stompim.store.kv import (
    ChannelSubscription,
    Dispatcher,
    KvTypeError,
    SubscriberRegistry,
    Subscription,
    ttl_ms,
)

_log = logging.getLogger(__name__)

# INCRBY, and set the expiry only when this call created the key (atomic on the server).
_INCR_WITH_TTL = """
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
"""

SUBSCRIBE_TIMEOUT = 10.0


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


class RedisKeyValue:
    """`KeyValue` on a Redis server. Open with `await RedisKeyValue.open(url, prefix=...)`."""

    def __init__(self, client: aioredis.Redis, prefix: str = "stompim") -> None:
        self._r = client
        self._prefix = f"{prefix}:" if prefix else ""
        self._incr_script = client.register_script(_INCR_WITH_TTL)
        self._subs = SubscriberRegistry()
        self._dispatcher = Dispatcher()
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._ready: dict[str, asyncio.Future[None]] = {}
        self._sub_lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, url: str, *, prefix: str = "stompim") -> RedisKeyValue:
        client = aioredis.Redis.from_url(url)
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            raise
        return cls(client, prefix)

    def _k(self, key: str) -> str:
        return self._prefix + key

    # -- strings ----------------------------------------------------------------------
    async def get(self, key: str) -> str | None:
        try:
            return _s(await self._r.get(self._k(key)))
        except ResponseError as exc:
            raise _translate(exc) from exc

    async def set(
        self, key: str, value: str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        px = ttl_ms(ttl) if ttl is not None else None
        done = await self._r.set(self._k(key), str(value), px=px, nx=only_if_absent)
        return bool(done)

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._r.delete(*(self._k(k) for k in keys)))

    async def exists(self, key: str) -> bool:
        return bool(await self._r.exists(self._k(key)))

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        try:
            if ttl is None:
                return int(await self._r.incrby(self._k(key), int(amount)))
            px = ttl_ms(ttl)
            return int(await self._incr_script(keys=[self._k(key)], args=[int(amount), px]))
        except ResponseError as exc:
            raise _translate(exc) from exc

    async def expire(self, key: str, ttl: float) -> None:
        await self._r.pexpire(self._k(key), ttl_ms(ttl))

    async def ttl(self, key: str) -> float | None:
        ms = int(await self._r.pttl(self._k(key)))
        return None if ms < 0 else ms / 1000

    # -- hashes -----------------------------------------------------------------------
    async def hset(self, key: str, field: str, value: str) -> None:
        try:
            await self._r.hset(self._k(key), field, str(value))
        except ResponseError as exc:
            raise _translate(exc) from exc

    async def hget(self, key: str, field: str) -> str | None:
        try:
            return _s(await self._r.hget(self._k(key), field))
        except ResponseError as exc:
            raise _translate(exc) from exc

    async def hdel(self, key: str, *fields: str) -> int:
        if not fields:
            return 0
        try:
            return int(await self._r.hdel(self._k(key), *fields))
        except ResponseError as exc:
            raise _translate(exc) from exc

    async def hgetall(self, key: str) -> dict[str, str]:
        try:
            raw = await self._r.hgetall(self._k(key))
        except ResponseError as exc:
            raise _translate(exc) from exc
        return {str(_s(f)): str(_s(v)) for f, v in raw.items()}

    # -- pub/sub ----------------------------------------------------------------------
    async def publish(self, channel: str, data: bytes) -> None:
        await self._r.publish(self._k(channel), bytes(data))

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
                    await self._pubsub.subscribe(sub.channel)
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
                    await self._pubsub.unsubscribe(sub.channel)

    async def _listen(self) -> None:
        """Read the PubSub connection until cancelled by `close()`."""
        delay = 0.1
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost; redis-py reconnects on the next read
                _log.warning("redis pub/sub read failed (%s); retrying in %.1fs", exc, delay)
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
            await self._pubsub.aclose()
            self._pubsub = None
        await self._r.aclose()
