"""Key-value store and pub/sub: Redis when `redis.url` is set, in-process otherwise.

Used for token revocation, SMS codes, rate limits, presence and the cluster bridge. Both
implementations behave the same from the outside (tests/store/test_kv.py runs every case
on both):

* values are `str`; pub/sub payloads are `bytes`;
* every key and channel is prefixed with `prefix + ":"` (nothing when prefix is "");
* `ttl` arguments are seconds as float (> 0), kept at millisecond precision;
* `set(..., ttl=None)` removes an earlier expiry, as Redis SET does;
* `incr(..., ttl=...)` sets the expiry only when the call created the key (fixed-window
  rate limiting: later increments keep the window's end);
* `subscribe()` returns once the subscription is active: a message published after it
  returns is delivered. Callbacks run one at a time, in publish order, on the event loop
  (coroutine functions are awaited), so a slow callback delays the next message; a
  callback that raises is logged and the stream goes on;
* `close()` ends every subscription and releases every connection;
* `ping()` answers when the store does (a readiness check);
* `batch(ops)` runs several `KvOp` commands in one round trip (a Redis pipeline without
  MULTI: not atomic, other clients' commands may run in between). It returns one result
  per op, in order, as the single-command method would return it (`None` for hset and
  expire), or the exception that op met (`KvTypeError`, `ValueError`); only a failure of
  the whole round trip (`Unavailable`) raises. Used where one caller writes many keys at
  once (presence refreshes), so the cost is one round trip per batch, not per key.

Faults (Redis): every command is bounded in time (`KvSettings`); a command that finds
every pooled connection busy waits for one (bounded) instead of failing. A Redis that
does not answer, refuses or is too busy raises `stompim.errors.Unavailable("redis")`;
after such a failure commands fail at once for `retry_after` seconds, then one command
probes, so an outage costs each caller a few microseconds, not a timeout.

Call order: `kv = await open_kv(url, prefix=..., settings=...)`, use, `await kv.close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from stompim.errors import KvTypeError
from stompim.logs import detached_context

__all__ = [
    "KeyValue", "KvOp", "KvSettings", "KvTypeError", "Subscription", "open_kv", "ttl_ms",
]


@dataclass(frozen=True)
class KvSettings:
    """Pool and timeouts of the Redis client (config [redis]; ignored in process), seconds.

    `pool_max` connections at most; a command finding all busy waits `pool_timeout`
    for one. `connect_timeout` bounds opening a connection and `socket_timeout` one
    command; `health_check_interval` pings a connection idle that long before reuse.
    `retry_after`: after a failure, commands fail at once for this long (then one probes).
    """

    pool_max: int = 64
    pool_timeout: float = 2.0
    connect_timeout: float = 1.0
    socket_timeout: float = 2.0
    health_check_interval: int = 15
    retry_after: float = 1.0


@dataclass(frozen=True)
class KvOp:
    """One command of `KeyValue.batch`; build it with the class methods below."""

    name: Literal["set", "expire", "hset", "hdel"]
    key: str
    args: tuple[str, ...] = ()
    ttl: float | None = None
    only_if_absent: bool = False

    @classmethod
    def set(
        cls, key: str, value: str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> KvOp:
        if ttl is not None:
            ttl_ms(ttl)  # reject a bad ttl when the op is built, not inside the batch
        return cls("set", key, (str(value),), ttl, only_if_absent)

    @classmethod
    def expire(cls, key: str, ttl: float) -> KvOp:
        ttl_ms(ttl)
        return cls("expire", key, (), ttl)

    @classmethod
    def hset(cls, key: str, field: str, value: str) -> KvOp:
        return cls("hset", key, (field, str(value)))

    @classmethod
    def hdel(cls, key: str, *fields: str) -> KvOp:
        return cls("hdel", key, tuple(fields))


@runtime_checkable
class Subscription(Protocol):
    """One callback on one channel; `close()` stops deliveries to it (idempotent)."""

    async def close(self) -> None: ...


@runtime_checkable
class KeyValue(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def set(
        self, key: str, value: str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool: ...

    async def delete(self, *keys: str) -> int: ...

    async def exists(self, key: str) -> bool: ...

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int: ...

    async def expire(self, key: str, ttl: float) -> None: ...

    async def ttl(self, key: str) -> float | None: ...

    async def hset(self, key: str, field: str, value: str) -> None: ...

    async def hget(self, key: str, field: str) -> str | None: ...

    async def hdel(self, key: str, *fields: str) -> int: ...

    async def hgetall(self, key: str) -> dict[str, str]: ...

    async def batch(self, ops: Sequence[KvOp]) -> list[object]: ...

    async def publish(self, channel: str, data: bytes) -> None: ...

    async def subscribe(self, channel: str, callback: Callable[[bytes], Any]) -> Subscription: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


def ttl_ms(ttl: float) -> int:
    """Seconds -> whole milliseconds (at least 1); a ttl <= 0 is a caller error."""
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return max(1, round(ttl * 1000))


async def open_kv(
    url: str, *, prefix: str = "stompim", settings: KvSettings | None = None
) -> KeyValue:
    """"redis://host:6379/0" -> RedisKeyValue; "" -> MemoryKeyValue (single node only)."""
    if not url:
        from stompim.store.kv_memory import MemoryKeyValue

        return MemoryKeyValue(prefix=prefix)
    from stompim.store.kv_redis import RedisKeyValue

    return await RedisKeyValue.open(url, prefix=prefix, settings=settings or KvSettings())


# ---------------------------------------------------------------------------------------
# Subscription bookkeeping shared by both implementations.
# ---------------------------------------------------------------------------------------

_log = logging.getLogger(__name__)


class _Closer(Protocol):
    async def _unsubscribe(self, sub: ChannelSubscription) -> None: ...


class ChannelSubscription:
    """A registered callback; deliveries stop as soon as `close()` is called."""

    def __init__(self, owner: _Closer, channel: str, callback: Callable[[bytes], Any]) -> None:
        self.owner = owner
        self.channel = channel
        self.callback = callback
        self.active = True

    async def close(self) -> None:
        if self.active:
            self.active = False
            await self.owner._unsubscribe(self)


class SubscriberRegistry:
    """Channel (full, prefixed name) -> subscriptions, in subscription order."""

    def __init__(self) -> None:
        self._by_channel: dict[str, list[ChannelSubscription]] = {}

    def add(self, sub: ChannelSubscription) -> bool:
        """Register; True when it is the channel's first subscriber."""
        subs = self._by_channel.setdefault(sub.channel, [])
        subs.append(sub)
        return len(subs) == 1

    def remove(self, sub: ChannelSubscription) -> bool:
        """Unregister; True when the channel has no subscriber left."""
        subs = self._by_channel.get(sub.channel)
        if not subs or sub not in subs:
            return False
        subs.remove(sub)
        if not subs:
            del self._by_channel[sub.channel]
            return True
        return False

    def snapshot(self, channel: str) -> tuple[ChannelSubscription, ...]:
        return tuple(self._by_channel.get(channel, ()))

    def channels(self) -> list[str]:
        return list(self._by_channel)

    def clear(self) -> list[ChannelSubscription]:
        subs = [s for lst in self._by_channel.values() for s in lst]
        self._by_channel.clear()
        for s in subs:
            s.active = False
        return subs


class Dispatcher:
    """Runs callbacks in one background task, in arrival order.

    Deliveries go through a queue (not inline in the reader) so that a callback may itself
    call `subscribe()` or `close()` without waiting on the task that reads the confirmations.
    Call order: `post()` any number of times, then `await stop()` once.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[tuple[ChannelSubscription, ...], bytes]] | None = None
        self._task: asyncio.Task[None] | None = None

    def post(self, subs: tuple[ChannelSubscription, ...], data: bytes) -> None:
        if not subs:
            return
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(
                self._run(self._queue), name="stompim-kv-dispatch", context=detached_context()
            )
        self._queue.put_nowait((subs, data))

    async def _run(
        self, queue: asyncio.Queue[tuple[tuple[ChannelSubscription, ...], bytes]]
    ) -> None:
        while True:
            subs, data = await queue.get()
            for sub in subs:
                if not sub.active:
                    continue
                try:
                    result = sub.callback(data)
                    if inspect.isawaitable(result):
                        await result
                except asyncio.CancelledError:
                    raise
                except Exception:
                    _log.exception("kv subscriber callback failed on channel %s", sub.channel)

    async def stop(self) -> None:
        task, self._task, self._queue = self._task, None, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
