"""The cluster bridge: carries topic messages and session controls between nodes.

`RedisBridge` implements the broker's `Bridge` over the node's `KeyValue` pub/sub
(one channel, ``cluster`` under the KV prefix).  With `RedisKeyValue` every node
sharing the Redis server and prefix hears every other; with `MemoryKeyValue` it
only hears itself, which it ignores, so a lone node behaves as with `LocalBridge`.

What travels (see `Broker.publish_local`): every publish of delivery kind TOPIC —
server-side publishes of the IM layer (chat, notifications, read events) and
client SENDs to generic ``/topic/**`` and per-user queues — plus the two controls
of `BrokerPublisher`: close a user's sessions (logout, token revocation) and end
a user's subscriptions to a destination (kicked from a group).  Generic
``/queue/**`` messages stay on the node they were sent to: a queue's
one-consumer-per-message and ack semantics would need a shared store, not
pub/sub; a consumer of a generic queue must be connected to the node its
producers use.

Wire format (binary, no base64; bodies may hold any byte)::

    batch  := MAGIC origin:part record*
    record := kind:u8 count:u16 part{count}
    part   := length:u32 bytes          (big-endian lengths)

A record of kind MESSAGE has parts destination, body, then header name/value
pairs; CLOSE_SESSIONS has user id, reason and optionally the token id;
END_SUBSCRIPTIONS has user id, destination, reason.  Several records share one
PUBLISH: the writer drains its queue into batches of at most `max_batch_bytes`.

Order: one writer task publishes batches in queue order, and the KV delivers
callbacks in publish order, so the records of one node reach every other node
in the order they were queued (a message published before a kick arrives
before the kick).  A node's own batches come back from Redis and are dropped
by comparing the origin with `node_id`, which must therefore be unique.

Call order: `bridge = RedisBridge(kv, node_id)`, `await bridge.start()` (returns
once the channel subscription is active), `broker.set_bridge(bridge)` (calls
`attach`), ..., `await bridge.close()` (also awaited by `Broker.close()`;
idempotent), then close the KV.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stompim.store.kv import KeyValue, Subscription

from .publisher import BridgeSink, Headers

__all__ = [
    "BridgeDecodeError",
    "CloseSessions",
    "EndSubscriptions",
    "Event",
    "RecordKind",
    "RedisBridge",
    "RemoteMessage",
    "decode_batch",
    "encode_batch",
]

log = logging.getLogger(__name__)

MAGIC = b"SIB1"
_PART = struct.Struct(">I")
_RECORD = struct.Struct(">BH")


class RecordKind(enum.IntEnum):
    MESSAGE = 1
    """A topic message to deliver to local subscribers."""
    CLOSE_SESSIONS = 2
    """Close a user's sessions (all, or those opened with one token)."""
    END_SUBSCRIPTIONS = 3
    """Drop a user's subscriptions to one destination."""


@dataclass(frozen=True, slots=True)
class RemoteMessage:
    destination: str
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class CloseSessions:
    user_id: int
    reason: str
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class EndSubscriptions:
    user_id: int
    destination: str
    reason: str


Event = RemoteMessage | CloseSessions | EndSubscriptions


class BridgeDecodeError(ValueError):
    """A payload on the cluster channel is not a well-formed batch."""


# ----------------------------------------------------------------------- codec


def _parts(event: Event) -> tuple[RecordKind, list[bytes]]:
    if isinstance(event, RemoteMessage):
        parts = [event.destination.encode(), bytes(event.body)]
        for name, value in event.headers:
            parts.append(name.encode())
            parts.append(value.encode())
        return RecordKind.MESSAGE, parts
    if isinstance(event, CloseSessions):
        parts = [str(event.user_id).encode(), event.reason.encode()]
        if event.token_id is not None:
            parts.append(event.token_id.encode())
        return RecordKind.CLOSE_SESSIONS, parts
    return RecordKind.END_SUBSCRIPTIONS, [
        str(event.user_id).encode(), event.destination.encode(), event.reason.encode()
    ]


def encode_record(event: Event) -> bytes:
    kind, parts = _parts(event)
    if len(parts) > 0xFFFF:
        raise ValueError("too many headers for a cluster record")
    chunks = [_RECORD.pack(kind, len(parts))]
    for part in parts:
        chunks.append(_PART.pack(len(part)))
        chunks.append(part)
    return b"".join(chunks)


def encode_batch(origin: str, events: Sequence[Event]) -> bytes:
    """One payload for the cluster channel (see the module docstring)."""
    return _batch_head(origin) + b"".join(encode_record(e) for e in events)


def _batch_head(origin: str) -> bytes:
    raw = origin.encode()
    return MAGIC + _PART.pack(len(raw)) + raw


def _read_part(view: memoryview, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(view):
        raise BridgeDecodeError("truncated part length")
    (length,) = _PART.unpack_from(view, pos)
    pos += 4
    end = pos + length
    if end > len(view):
        raise BridgeDecodeError("truncated part")
    return bytes(view[pos:end]), end


def decode_origin(data: bytes) -> tuple[str, int]:
    """(origin node id, offset of the first record); cheap, for the echo check."""
    if not data.startswith(MAGIC):
        raise BridgeDecodeError("not a cluster batch")
    raw, pos = _read_part(memoryview(data), len(MAGIC))
    try:
        return raw.decode(), pos
    except UnicodeDecodeError:
        raise BridgeDecodeError("origin is not UTF-8") from None


def _event(kind: int, parts: list[bytes]) -> Event:
    try:
        if kind == RecordKind.MESSAGE:
            if len(parts) < 2 or len(parts) % 2:
                raise BridgeDecodeError("bad MESSAGE record")
            text = [p.decode() for p in parts[2:]]
            headers = tuple(zip(text[0::2], text[1::2], strict=False))
            return RemoteMessage(parts[0].decode(), headers, parts[1])
        if kind == RecordKind.CLOSE_SESSIONS:
            if len(parts) not in (2, 3):
                raise BridgeDecodeError("bad CLOSE_SESSIONS record")
            token = parts[2].decode() if len(parts) == 3 else None
            return CloseSessions(int(parts[0]), parts[1].decode(), token)
        if kind == RecordKind.END_SUBSCRIPTIONS:
            if len(parts) != 3:
                raise BridgeDecodeError("bad END_SUBSCRIPTIONS record")
            return EndSubscriptions(int(parts[0]), parts[1].decode(), parts[2].decode())
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, BridgeDecodeError):
            raise
        raise BridgeDecodeError(f"bad record field: {exc}") from None
    raise BridgeDecodeError(f"unknown record kind {kind}")


def decode_records(data: bytes, pos: int) -> list[Event]:
    view = memoryview(data)
    events: list[Event] = []
    while pos < len(view):
        if pos + _RECORD.size > len(view):
            raise BridgeDecodeError("truncated record head")
        kind, count = _RECORD.unpack_from(view, pos)
        pos += _RECORD.size
        parts = []
        for _ in range(count):
            part, pos = _read_part(view, pos)
            parts.append(part)
        events.append(_event(kind, parts))
    return events


def decode_batch(data: bytes) -> tuple[str, list[Event]]:
    """(origin, events) of a payload; BridgeDecodeError when malformed."""
    origin, pos = decode_origin(data)
    return origin, decode_records(data, pos)


# ---------------------------------------------------------------------- bridge


@dataclass
class BridgeStats:
    """Counters (mutable on purpose; read for metrics and tests)."""

    batches_out: int = 0
    records_out: int = 0
    records_in: int = 0
    dropped: int = 0
    publish_errors: int = 0
    decode_errors: int = 0


class RedisBridge:
    """`Bridge` over KeyValue pub/sub (see the module docstring).

    `forward_message` never waits: it appends to a bounded queue (a message that
    finds `max_pending` records waiting is dropped and counted — chat messages
    are stored, so clients catch up by seq).  The controls wait until their batch
    was handed to Redis, and are never dropped.
    """

    def __init__(
        self,
        kv: KeyValue,
        node_id: str,
        *,
        channel: str = "cluster",
        max_batch_bytes: int = 256 * 1024,
        max_pending: int = 100_000,
    ) -> None:
        if not node_id:
            raise ValueError("a cluster bridge needs a non-empty node_id")
        self.kv = kv
        self.node_id = node_id
        self.channel = channel
        self.max_batch_bytes = max_batch_bytes
        self.max_pending = max_pending
        self.stats = BridgeStats()
        self._head = _batch_head(node_id)
        self._sink: BridgeSink | None = None
        self._pending: deque[tuple[bytes, asyncio.Future[None] | None]] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
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
        if len(self._pending) >= self.max_pending:
            self.stats.dropped += 1
            if self.stats.dropped % 1000 == 1:
                log.warning("cluster bridge queue full; %d messages dropped so far",
                            self.stats.dropped)
            return
        self._pending.append((encode_record(RemoteMessage(destination, headers, body)), None))
        self._wake.set()

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None
    ) -> None:
        await self._send_control(CloseSessions(user_id, reason, token_id))

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        await self._send_control(EndSubscriptions(user_id, destination, reason))

    async def _send_control(self, event: Event) -> None:
        if self._closed or self._writer is None:
            raise RuntimeError("cluster bridge is not running")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((encode_record(event), done))
        self._wake.set()
        await done

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await self._publish_batch()
            if self._closed:
                return

    def _take_batch(self) -> tuple[bytes, list[asyncio.Future[None]]]:
        chunks = [self._head]
        size = len(self._head)
        waiters: list[asyncio.Future[None]] = []
        pending = self._pending
        while pending:
            record, done = pending[0]
            if len(chunks) > 1 and size + len(record) > self.max_batch_bytes:
                break
            pending.popleft()
            chunks.append(record)
            size += len(record)
            if done is not None:
                waiters.append(done)
        self.stats.records_out += len(chunks) - 1
        return b"".join(chunks), waiters

    async def _publish_batch(self) -> None:
        payload, waiters = self._take_batch()
        error: Exception | None = None
        try:
            await self.kv.publish(self.channel, payload)
            self.stats.batches_out += 1
        except asyncio.CancelledError:
            for done in waiters:
                if not done.done():
                    done.cancel()
            raise
        except Exception as exc:
            self.stats.publish_errors += 1
            log.warning("cluster publish failed (%s); %d bytes lost", exc, len(payload))
            error = exc
        for done in waiters:
            if not done.done():
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    # ------------------------------------------------------------ incoming

    def _on_payload(self, data: bytes) -> None:
        try:
            origin, pos = decode_origin(data)
            if origin == self.node_id:
                return
            events = decode_records(data, pos)
        except BridgeDecodeError as exc:
            self.stats.decode_errors += 1
            log.warning("dropped a malformed cluster payload: %s", exc)
            return
        sink = self._sink
        if sink is None:
            return
        self.stats.records_in += len(events)
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
            self._wake.set()  # the writer drains the queue, sees _closed, returns
            try:
                await asyncio.wait_for(writer, flush_timeout)
            except TimeoutError:
                log.warning("cluster bridge closed with %d records unsent", len(self._pending))
            except Exception:
                log.exception("cluster bridge writer failed")
        for _record, done in self._pending:
            if done is not None and not done.done():
                done.cancel()
        self._pending.clear()
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
    except Exception:
        log.exception("applying a cluster event failed: %r", type(event).__name__)
