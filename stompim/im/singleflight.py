"""Concurrent lookups of one key share one run (a "single flight").

A crowd reconnecting at once after a restart asks the same question many times in the
same instant: 2,000 CONNECTs of one user each wanted the account's status from the
database the moment its short cache expired, queued on a pool of 10 connections, and
on a starved machine the last of them waited past the pool's acquire timeout
("service unavailable, retry"). Sharing the one lookup already in flight answers them
all with one query.

Call order: `flights = SingleFlight()`, then `await flights.run(key, make)` from any
number of tasks; `forget(key)` makes the next call start a fresh run (the answer in
flight may be stale, e.g. the account was just disabled).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, make: Callable[[], Awaitable[V]]) -> V:
        """The result of `make()`, or of the run for `key` already in flight (its
        exception too).  A caller cancelled while waiting does not cancel the run."""
        future = self._running.get(key)
        if future is None:
            future = asyncio.ensure_future(make())
            self._running[key] = future
            future.add_done_callback(functools.partial(self._done, key))
        return await asyncio.shield(future)

    def forget(self, key: K) -> None:
        self._running.pop(key, None)

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def _done(self, key: K, future: asyncio.Future[V]) -> None:
        if self._running.get(key) is future:
            del self._running[key]
        if not future.cancelled():
            future.exception()   # retrieved, even when every waiter was cancelled
