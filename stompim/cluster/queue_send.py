"""The SEND side of the shared generic queues (stompim.cluster.queues): SENDs stored in
batches, one `SEND` script per queue per batch (in the order they came), one round trip
per batch; each SEND's Future resolves with its RECEIPT headers once Redis answered.

Call order: `SendBatcher(...)`, `run()` as a task, `submit()` per SEND, `close()` (the
SENDs not yet stored are refused).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from stompim.broker.errors import QueueFull
from stompim.errors import Unavailable
from stompim.rate_limited_log import RateLimitedLog

from . import queue_scripts as scripts
from .queue_state import QueueSettings, QueueStats, Scripts

__all__ = ["SendBatcher"]

_quiet = RateLimitedLog(logging.getLogger(__name__))

MAX_SEND_BATCH = 256       # SENDs stored in one round trip
Future = asyncio.Future[Mapping[str, str]]


class SendBatcher:
    def __init__(
        self, client: aioredis.Redis, code: Scripts, settings: QueueSettings,
        stats: QueueStats, key_of: Callable[[str], str], set_key: str,
        down: Callable[[BaseException], None],
    ) -> None:
        self.client = client
        self.code = code
        self.settings = settings
        self.stats = stats
        self.key_of = key_of
        self.set_key = set_key
        self.down = down
        self._pending: list[tuple[str, str, bytes, Future]] = []
        self._wake = asyncio.Event()
        self._closed = False

    def submit(self, name: str, headers: str, body: bytes) -> Future:
        """Store one message (`headers` as JSON pairs) in queue `name`."""
        future: Future = asyncio.get_running_loop().create_future()
        self._pending.append((name, headers, body, future))
        self._wake.set()
        return future

    async def run(self) -> None:
        s = self.settings
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = [b for b in self._pending[:MAX_SEND_BATCH] if not b[3].done()]
                del self._pending[:MAX_SEND_BATCH]
                if not batch:
                    continue
                by_queue: dict[str, list[tuple[str, bytes, Future]]]
                by_queue = {}
                for name, headers, body, future in batch:
                    by_queue.setdefault(name, []).append((headers, body, future))
                try:
                    sha = await self.code.sha(scripts.SEND)
                    pipe = self.client.pipeline(transaction=False)
                    for name, items in by_queue.items():   # one script per queue, in order
                        args: list[str | bytes | int] = [name, s.max_depth, s.max_queues]
                        for headers, body, _ in items:
                            args.extend((headers, body))
                        pipe.evalsha(sha, 2, self.key_of(name), self.set_key, *args)
                    results = await asyncio.wait_for(
                        pipe.execute(raise_on_error=False), s.command_timeout)
                except (RedisError, OSError, TimeoutError) as exc:
                    self.down(exc)
                    for *_, future in batch:
                        self.stats.send_refused += 1
                        if not future.done():
                            future.set_exception(Unavailable(
                                "redis", "the queue store did not answer in time; the "
                                "message may not be stored, send it again"))
                    continue
                self.stats.up = True
                for (name, items), answers in zip(by_queue.items(), results, strict=True):
                    if not isinstance(answers, list):
                        answers = [answers] * len(items)
                    for (_, _, future), result in zip(items, answers, strict=True):
                        self._settle(name, future, result)
            if self._closed:
                return

    def _settle(self, name: str, future: Future, result: Any) -> None:
        if future.done():
            return
        if isinstance(result, bytes):
            self.stats.stored += 1
            future.set_result({"message-id": result.decode()})
        elif result == -1:
            self.stats.full += 1
            future.set_exception(QueueFull(f"queue {name} is full"))
        elif result == -2:
            self.stats.full += 1
            future.set_exception(QueueFull(
                f"too many queues ({self.settings.max_queues}): {name} refused"))
        else:
            self.stats.send_refused += 1
            _quiet.warning("send", "storing a queue message failed: %r", result)
            future.set_exception(Unavailable("redis", "the queue store refused the message"))

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        for *_, future in self._pending:
            if not future.done():
                future.set_exception(Unavailable("redis", "the node is shutting down"))
        self._pending.clear()
