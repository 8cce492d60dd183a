"""The cluster bridge: carries topic messages and session controls between nodes.

`RedisBridge` implements the broker's `Bridge` (stompim.broker.publisher) over the node's
`KeyValue` pub/sub (one channel, ``cluster`` under the KV prefix). It lives above both
the broker and the store, which must not know each other. With `RedisKeyValue` every
node sharing the Redis server and prefix hears every other; with `MemoryKeyValue` it
only hears itself, which it ignores, so a lone node behaves as with `LocalBridge`.

What travels (see `Broker.publish_local`): every publish of delivery kind TOPIC —
server-side publishes of the IM layer (chat, notifications, read events) and client
SENDs to generic ``/topic/**`` and per-user queues — plus the two controls of
`BrokerPublisher`: close a user's sessions (logout, token revocation) and end a user's
subscriptions to a destination (kicked from a group). Generic ``/queue/**`` messages
do not travel here: one consumer per message and acks need a shared store, not pub/sub,
so with Redis they live in streams (stompim.cluster.queues). Wire format:
stompim.cluster.wire.

Never in the way of local work: `forward_message` only appends to a buffer, and one
writer task publishes it in batches of at most `max_batch_bytes`, in order. When Redis
does not answer or refuses, the batch stays at the head of the buffer and is retried
with a growing pause (up to `MAX_RETRY_PAUSE`) until Redis is back, so other nodes catch
up in order; a batch whose publish timed out may arrive twice (at least once, never
lost, while the buffer holds). The buffer is bounded in bytes (`max_buffer_bytes`):
past it new messages are dropped and counted (`stats.dropped`); chat messages are
stored, so a client's resume (x-since-seq) fills what another node missed. Controls are
never dropped; a caller waits for its control at most `control_timeout` seconds, then
gets `Unavailable("redis")` while the control stays queued and goes out on recovery.

Order: the KV delivers callbacks in publish order, so the records of one node reach
every other node in the order they were queued (a message published before a kick
arrives before the kick). A node's own batches come back from Redis and are dropped by
comparing the origin with `node_id`, which must therefore be unique.

Call order: `bridge = RedisBridge(kv, node_id)`, `await bridge.start()` (returns once the
channel subscription is active), `broker.set_bridge(bridge)` (calls `attach`), ...,
`await bridge.close()` (also awaited by `Broker.close()`; idempotent), then close the KV.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from stompim.broker.publisher import BridgeSink
from stompim.cluster.wire import (
    BridgeDecodeError,
    CloseSessions,
    EndSubscriptions,
    Event,
    Headers,
    RemoteMessage,
    batch_head,
    decode_origin,
    decode_wanted,
    encode_record,
)
from stompim.errors import Unavailable
from stompim.metrics import UNAVAILABLE
from stompim.rate_limited_log import RateLimitedLog
from stompim.store.kv import KeyValue, Subscription

__all__ = ["BridgeStats", "RedisBridge"]

log = logging.getLogger(__name__)
_quiet = RateLimitedLog(log)

MAX_RETRY_PAUSE = 2.0
FIRST_RETRY_PAUSE = 0.05


@dataclass
class BridgeStats:
    """Counters (mutable on purpose; read for metrics and tests)."""

    batches_out: int = 0
    records_out: int = 0
    records_in: int = 0
    records_skipped: int = 0         # heard, but no local session subscribes: not decoded
    dropped: int = 0
    publish_errors: int = 0
    decode_errors: int = 0
    pending_bytes: int = 0
    publishing: bool = True          # False from a failed publish until one succeeds
    backlog_since: float | None = None   # time.monotonic() the buffer became non-empty


class RedisBridge:
    """`Bridge` over KeyValue pub/sub (see the module docstring)."""

    def __init__(
        self,
        kv: KeyValue,
        node_id: str,
        *,
        channel: str = "cluster",
        max_batch_bytes: int = 256 * 1024,
        max_buffer_bytes: int = 16 * 1024 * 1024,
        control_timeout: float = 5.0,
    ) -> None:
        if not node_id:
            raise ValueError("a cluster bridge needs a non-empty node_id")
        self.kv = kv
        self.node_id = node_id
        self.channel = channel
        self.max_batch_bytes = max_batch_bytes
        self.max_buffer_bytes = max_buffer_bytes
        self.control_timeout = control_timeout
        self.stats = BridgeStats()
        self._head = batch_head(node_id)
        self._pending: deque[tuple[bytes, asyncio.Future[None] | None]] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        self._sink: BridgeSink | None = None
        self._closed = False

    async def start(self) -> None:
        """Subscribe to the channel (active on return) and start the writer."""
        self._subscription = await self.kv.subscribe(self.channel, self._on_payload)
        self._writer = asyncio.get_running_loop().create_task(
            self._write_loop(), name=f"stompim-cluster-writer-{self.node_id}"
        )

    def attach(self, sink: BridgeSink) -> None:
        self._sink = sink

    # ------------------------------------------------------------ outgoing

    def forward_message(self, destination: str, headers: Headers, body: bytes) -> None:
        if self._closed or self._writer is None:
            return
        record = encode_record(RemoteMessage(destination, headers, body))
        if self.stats.pending_bytes + len(record) > self.max_buffer_bytes:
            self.stats.dropped += 1
            _quiet.warning("dropped", "cluster bridge buffer full (%d bytes); %d messages "
                           "dropped so far", self.stats.pending_bytes, self.stats.dropped)
            return
        self._append(record, None)

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None
    ) -> None:
        await self._send_control(CloseSessions(user_id, reason, token_id))

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        await self._send_control(EndSubscriptions(user_id, destination, reason))

    def _append(self, record: bytes, done: asyncio.Future[None] | None) -> None:
        if not self._pending:
            self.stats.backlog_since = time.monotonic()
        self._pending.append((record, done))
        self.stats.pending_bytes += len(record)
        self._wake.set()

    async def _send_control(self, event: Event) -> None:
        if self._closed or self._writer is None:
            raise RuntimeError("cluster bridge is not running")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._append(encode_record(event), done)
        try:
            await asyncio.wait_for(asyncio.shield(done), self.control_timeout)
        except TimeoutError:
            UNAVAILABLE.labels("redis", "bridge_timeout").inc()
            raise Unavailable(
                "redis", "the other nodes were not reached in time; the change reaches them "
                "when Redis is back"
            ) from None

    async def _write_loop(self) -> None:
        pause = FIRST_RETRY_PAUSE
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                if await self._publish_head():
                    pause = FIRST_RETRY_PAUSE
                    continue
                await asyncio.sleep(pause)  # Redis is down: retry the same batch later
                pause = min(pause * 2, MAX_RETRY_PAUSE)
            if self._closed:
                return

    def _head_batch(self) -> tuple[bytes, int]:
        """The payload of the records at the head of the buffer (kept there until it is
        published) and how many records it holds."""
        chunks = [self._head]
        size = len(self._head)
        for record, _done in self._pending:
            if len(chunks) > 1 and size + len(record) > self.max_batch_bytes:
                break
            chunks.append(record)
            size += len(record)
        return b"".join(chunks), len(chunks) - 1

    async def _publish_head(self) -> bool:
        """Publish the head batch; True when it went out (and left the buffer)."""
        payload, count = self._head_batch()
        try:
            await self.kv.publish(self.channel, payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.publish_errors += 1
            self.stats.publishing = False
            _quiet.warning("publish", "cluster publish failed (%s); %d bytes wait for Redis",
                           exc, self.stats.pending_bytes)
            return False
        stats = self.stats
        stats.batches_out += 1
        stats.records_out += count
        stats.publishing = True
        for _ in range(count):
            record, done = self._pending.popleft()
            stats.pending_bytes -= len(record)
            if done is not None and not done.done():
                done.set_result(None)
        # the rest waited at most as long as the head did: an upper bound, reset when empty
        stats.backlog_since = stats.backlog_since if self._pending else None
        return True

    # ------------------------------------------------------------ incoming

    def _on_payload(self, data: bytes) -> None:
        """Decode a heard batch and hand its events to the local broker, skipping
        messages no local session subscribes to (`BridgeSink.wants_remote`) before
        their headers are decoded: most of the records a node hears."""
        sink = self._sink
        try:
            origin, pos = decode_origin(data)
            if origin == self.node_id:
                return
            events, records = decode_wanted(
                data, pos, sink.wants_remote if sink is not None else None)
        except BridgeDecodeError as exc:
            self.stats.decode_errors += 1
            _quiet.warning("decode", "dropped a malformed cluster payload: %s", exc)
            return
        if sink is None:
            return
        stats = self.stats
        stats.records_in += records
        stats.records_skipped += records - len(events)
        for event in events:
            _apply(sink, event)

    # ------------------------------------------------------------ shutdown

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Publish what is queued (bounded by `flush_timeout`), then stop."""
        if self._closed:
            return
        self._closed = True
        writer, self._writer = self._writer, None
        if writer is not None:
            self._wake.set()  # the writer drains the buffer, sees _closed, returns
            try:
                await asyncio.wait_for(writer, flush_timeout)
            except TimeoutError:
                log.warning("cluster bridge closed with %d records (%d bytes) unsent",
                            len(self._pending), self.stats.pending_bytes)
            except Exception:
                log.exception("cluster bridge writer failed")
        for _record, done in self._pending:
            if done is not None and not done.done():
                done.cancel()
        self._pending.clear()
        self.stats.pending_bytes = 0
        self.stats.backlog_since = None
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            try:
                await subscription.close()
            except Exception:
                log.exception("closing the cluster subscription failed")


def _apply(sink: BridgeSink, event: Any) -> None:
    """Hand one remote event to the local broker; a failure never stops the stream."""
    try:
        if isinstance(event, RemoteMessage):
            sink.deliver_remote(event.destination, event.headers, event.body)
        elif isinstance(event, CloseSessions):
            sink.close_user_sessions_local(event.user_id, event.reason, event.token_id)
        else:
            sink.end_subscriptions_local(event.user_id, event.destination, event.reason)
    except Exception as exc:
        _quiet.exception(("apply", type(exc)), "applying a cluster event failed: %r",
                         type(event).__name__)
