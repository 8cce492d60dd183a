"""In-process `KeyValue`: dictionaries with expiry deadlines, pub/sub within this process.

For a single node (the embedded default). Expiry is lazy: every access first drops its
key when the deadline has passed, and every 256th write sweeps all expired keys so
forgotten keys do not pile up. Deadlines use the monotonic clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from stompim.errors import KvTypeError
from stompim.store.kv import (
    ChannelSubscription,
    Dispatcher,
    KvOp,
    SubscriberRegistry,
    Subscription,
    ttl_ms,
)

_SWEEP_EVERY = 256


class MemoryKeyValue:
    """`KeyValue` held in this process. Safe to use from many coroutines of one loop."""

    def __init__(self, prefix: str = "stompim") -> None:
        self._prefix = f"{prefix}:" if prefix else ""
        self._strings: dict[str, str] = {}
        self._hashes: dict[str, dict[str, str]] = {}
        self._deadlines: dict[str, float] = {}
        self._writes = 0
        self._subs = SubscriberRegistry()
        self._dispatcher = Dispatcher()
        self._closed = False

    # -- expiry ---------------------------------------------------------------------
    def _k(self, key: str) -> str:
        return self._prefix + key

    def _drop(self, k: str) -> bool:
        self._deadlines.pop(k, None)
        found = self._strings.pop(k, None) is not None
        return self._hashes.pop(k, None) is not None or found

    def _live(self, k: str) -> bool:
        deadline = self._deadlines.get(k)
        if deadline is not None and deadline <= time.monotonic():
            self._drop(k)
            return False
        return k in self._strings or k in self._hashes

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            now = time.monotonic()
            for k in [k for k, d in self._deadlines.items() if d <= now]:
                self._drop(k)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("key-value store is closed")

    # -- strings ----------------------------------------------------------------------
    async def get(self, key: str) -> str | None:
        self._check_open()
        k = self._k(key)
        if not self._live(k):
            return None
        if k in self._hashes:
            raise KvTypeError(f"{key!r} holds a hash")
        return self._strings[k]

    async def set(
        self, key: str, value: str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        self._check_open()
        ms = ttl_ms(ttl) if ttl is not None else None
        k = self._k(key)
        if only_if_absent and self._live(k):
            return False
        self._drop(k)
        self._strings[k] = str(value)
        if ms is not None:
            self._deadlines[k] = time.monotonic() + ms / 1000
        self._wrote()
        return True

    async def delete(self, *keys: str) -> int:
        self._check_open()
        removed = 0
        for key in keys:
            k = self._k(key)
            if self._live(k):
                self._drop(k)
                removed += 1
        return removed

    async def exists(self, key: str) -> bool:
        self._check_open()
        return self._live(self._k(key))

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        self._check_open()
        ms = ttl_ms(ttl) if ttl is not None else None
        k = self._k(key)
        created = not self._live(k)
        if k in self._hashes:
            raise KvTypeError(f"{key!r} holds a hash")
        current = self._strings.get(k, "0")
        try:
            value = int(current) + int(amount)
        except ValueError:
            raise ValueError(f"value of {key!r} is not an integer") from None
        self._strings[k] = str(value)
        if created and ms is not None:
            self._deadlines[k] = time.monotonic() + ms / 1000
        self._wrote()
        return value

    async def expire(self, key: str, ttl: float) -> None:
        self._check_open()
        ms = ttl_ms(ttl)
        k = self._k(key)
        if self._live(k):
            self._deadlines[k] = time.monotonic() + ms / 1000

    async def ttl(self, key: str) -> float | None:
        self._check_open()
        k = self._k(key)
        if not self._live(k) or k not in self._deadlines:
            return None
        return max(0.0, round(self._deadlines[k] - time.monotonic(), 3))

    # -- hashes -----------------------------------------------------------------------
    def _hash(self, key: str, create: bool) -> dict[str, str] | None:
        k = self._k(key)
        if not self._live(k):
            if not create:
                return None
            self._hashes[k] = {}
        if k in self._strings:
            raise KvTypeError(f"{key!r} holds a string")
        return self._hashes[k]

    async def hset(self, key: str, field: str, value: str) -> None:
        self._check_open()
        h = self._hash(key, create=True)
        assert h is not None
        h[field] = str(value)
        self._wrote()

    async def hget(self, key: str, field: str) -> str | None:
        self._check_open()
        h = self._hash(key, create=False)
        return None if h is None else h.get(field)

    async def hdel(self, key: str, *fields: str) -> int:
        self._check_open()
        h = self._hash(key, create=False)
        if h is None:
            return 0
        removed = sum(1 for f in fields if h.pop(f, None) is not None)
        if not h:
            self._drop(self._k(key))  # Redis deletes an emptied hash
        return removed

    async def hgetall(self, key: str) -> dict[str, str]:
        self._check_open()
        h = self._hash(key, create=False)
        return {} if h is None else dict(h)

    # -- batches ----------------------------------------------------------------------
    async def batch(self, ops: Sequence[KvOp]) -> list[object]:
        """Run `ops` in order; a failing op's exception takes its place in the results."""
        self._check_open()
        results: list[object] = []
        for op in ops:
            try:
                results.append(await self._one(op))
            except (KvTypeError, ValueError) as exc:
                results.append(exc)
        return results

    async def _one(self, op: KvOp) -> object:
        if op.name == "set":
            return await self.set(op.key, op.args[0], ttl=op.ttl,
                                  only_if_absent=op.only_if_absent)
        if op.name == "expire":
            assert op.ttl is not None
            await self.expire(op.key, op.ttl)
            return None
        if op.name == "hset":
            await self.hset(op.key, op.args[0], op.args[1])
            return None
        return await self.hdel(op.key, *op.args)

    # -- pub/sub ----------------------------------------------------------------------
    async def publish(self, channel: str, data: bytes) -> None:
        self._check_open()
        self._dispatcher.post(self._subs.snapshot(self._k(channel)), bytes(data))

    async def subscribe(self, channel: str, callback: Callable[[bytes], Any]) -> Subscription:
        self._check_open()
        sub = ChannelSubscription(self, self._k(channel), callback)
        self._subs.add(sub)
        return sub

    async def _unsubscribe(self, sub: ChannelSubscription) -> None:
        self._subs.remove(sub)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._subs.clear()
        await self._dispatcher.stop()
        self._strings.clear()
        self._hashes.clear()
        self._deadlines.clear()
