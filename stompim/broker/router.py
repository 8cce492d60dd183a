"""Subscriptions and delivery: topic fan-out and queue round robin.

The router owns no sockets.  It maps a resolved destination to its subscriptions
and calls `Subscription.consumer.deliver()` for each delivery; the consumer (a
session) renders and buffers the bytes and says whether it is congested, so a
publish can tell its publisher "you write into a consumer that does not keep up".
Queues (generic ``/queue/**``) hold messages while no consumer is there, give each
message to one consumer (round robin), and take back unacknowledged messages when a
consumer NACKs or leaves.

With `shared` set (`SharedQueues`, a Redis-backed store when the node has
Redis), generic queues are not held here: every queue operation of a subscription goes
to it, and topics stay as they are.

Call order: `add(sub)` after the SUBSCRIBE passed the rules; `publish()` per
message; `remove(sub)` on UNSUBSCRIBE or when the session ends (its unacked queue
messages go back to the front of the queue, then to another consumer).
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from stompim.config import StompConfig

from .destinations import DestinationHandler, Kind
from .errors import QueueFull
from .message import Message

__all__ = [
    "AckMode",
    "Consumer",
    "MessageQueue",
    "QueueFull",
    "QueueLimits",
    "Replay",
    "Router",
    "SharedQueues",
    "Subscription",
    "message_size",
    "queue_limits",
]


class AckMode(enum.Enum):
    AUTO = "auto"
    """Delivered = consumed; no ACK expected."""
    CLIENT = "client"
    """ACK is cumulative: it acknowledges every earlier unacked message too."""
    CLIENT_INDIVIDUAL = "client-individual"
    """ACK/NACK applies to exactly one message."""


class Consumer(Protocol):
    """What the router needs of the owner of a subscription (a session)."""

    @property
    def is_open(self) -> bool:
        """Whether it takes deliveries (a closed session's subscriptions are removed)."""

    def deliver(self, sub: Subscription, message: Message, redelivered: bool) -> bool:
        """Render and buffer one MESSAGE; True when the consumer is congested (its
        pending bytes are above the soft limit)."""

    @property
    def congested(self) -> bool:
        """Whether its pending bytes are above the soft limit now."""


class Replay:
    """The replay state of a subscription that asked for ``x-since-seq``.

    While `buffer` is a list, the stored messages are being fetched and live ones wait
    there.  Then `ids` holds the message ids the replay sent: a live message is dropped
    only if its id is among them (it was committed before the replay query and
    published after), so a message committed out of id order on another node is still
    delivered.  `ids` is bounded by the replay limit and forgotten at `until` (set by
    the session's timer), when no such late publish can be on its way any more.
    """

    __slots__ = ("buffer", "ids", "until")

    def __init__(self) -> None:
        self.buffer: list[Message] | None = []
        self.ids: set[bytes] = set()
        self.until: float | None = None


class Subscription:
    """One SUBSCRIBE of one session.

    `unacked` maps ack id -> (message, redelivered) in delivery order; `by_mid`
    maps message id -> ack id for 1.0/1.1 ACKs.  Both exist only in the client
    ack modes (None for auto: an idle subscription stays small).  `replay` exists
    only while a replay's de-duplication lasts (see `Replay`), or, on an ordered
    stream (`cursor` set), while a hole is being filled (its `buffer` holds the live
    messages meanwhile).
    """

    __slots__ = (
        "ack_mode",
        "active",
        "by_mid",
        "consumer",
        "cursor",
        "destination",
        "id",
        "kind",
        "prefix",
        "replay",
        "source",
        "unacked",
    )

    def __init__(
        self, consumer: Consumer, sub_id: str, destination: str, kind: Kind,
        ack_mode: AckMode, prefix: bytes,
    ) -> None:
        self.consumer = consumer
        self.id = sub_id
        self.destination = destination
        self.kind = kind
        self.ack_mode = ack_mode
        self.prefix = prefix
        self.unacked: dict[str, tuple[Message, bool]] | None = None
        self.by_mid: dict[bytes, str] | None = None
        if ack_mode is not AckMode.AUTO:
            self.unacked = {}
            self.by_mid = {}
        self.active = True
        self.replay: Replay | None = None
        # An ordered stream's subscription (DestinationHandler.ordered): the seq it
        # delivered last, and the handler that fills holes; None otherwise.
        self.cursor: int | None = None
        self.source: DestinationHandler | None = None


def message_size(message: Message) -> int:
    """What a queued message costs, near enough: body, headers, and the objects around
    them (the router's own bookkeeping, not the rendered frames a session buffers,
    which max_pending_bytes bounds)."""
    size = len(message.body) + QUEUED_OVERHEAD
    for name, value in message.headers:
        size += len(name) + len(value) + 2
    return size


QUEUED_OVERHEAD = 256
"""Bytes charged per queued message beyond its body and headers."""


@dataclass(frozen=True)
class QueueLimits:
    """The generic queues' bounds (config `stomp.max_queue_*`, `queue_message_ttl_ms`)."""

    max_depth: int = 10000
    max_bytes: int = 16 * 1024 * 1024
    max_total_bytes: int = 128 * 1024 * 1024
    max_queues: int = 10000
    ttl: float = 3600.0   # seconds; 0 = no expiry


def queue_limits(config: StompConfig) -> QueueLimits:
    return QueueLimits(
        max_depth=config.max_queue_depth,
        max_bytes=config.max_queue_bytes,
        max_total_bytes=config.max_queues_total_bytes,
        max_queues=config.max_queues,
        ttl=config.queue_message_ttl_ms / 1000.0,
    )


class MessageQueue:
    """Pending messages of one generic queue and its consumers.

    `bytes` is what the queue holds: its pending messages and those delivered to a
    client-ack consumer and not yet acknowledged (they come back on NACK or when the
    consumer leaves)."""

    __slots__ = ("bytes", "consumers", "pending", "rr")

    def __init__(self) -> None:
        # (message, redelivered, subscription to avoid if another consumer exists,
        #  loop time it was first queued)
        self.pending: deque[tuple[Message, bool, Subscription | None, float]] = deque()
        self.consumers: list[Subscription] = []
        self.rr = 0
        self.bytes = 0

    def _next(self, avoid: Subscription | None) -> Subscription | None:
        n = len(self.consumers)
        for i in range(n):
            sub = self.consumers[(self.rr + i) % n]
            if sub is avoid and n > 1:
                continue
            if sub.consumer.is_open:
                self.rr = (self.rr + i + 1) % n
                return sub
        return None


class SharedQueues(Protocol):
    """Generic queues shared by several nodes (stompim.cluster.queues).

    Without it (a single process, the embedded default) the Router keeps generic
    ``/queue/**`` messages in memory.  With it, the Router hands every queue operation of
    its subscriptions to a `SharedQueues`: the queue lives outside the node (a Redis stream
    read through a consumer group), a SEND is stored there before its RECEIPT, and the
    shared store decides which node, and on it which subscription, gets each message.

    Call order, all on the event loop's thread: `Router.shared = queues` before any
    session subscribes; then `add` per queue SUBSCRIBE, `acknowledged` per ACK,
    `returned` per NACK, `remove` when a subscription ends (its unacknowledged messages go
    back to the queue for another consumer, on any node).  The SEND side is a
    `DestinationHandler` (`begin_send`), which `DestinationRules.queue_handler` names.
    """

    def add(self, sub: Subscription) -> None:
        """`sub` (a generic queue subscription) takes messages from now on."""

    def remove(self, sub: Subscription, unacked: Sequence[Message]) -> None:
        """`sub` ended; `unacked` (delivery order) go back to the queue, redelivered."""

    def acknowledged(self, sub: Subscription, messages: Sequence[Message]) -> None:
        """`messages` delivered to `sub` were ACKed: consumed, gone from the queue."""

    def returned(self, sub: Subscription, messages: Sequence[Message]) -> None:
        """`messages` delivered to `sub` were NACKed: back to the queue, redelivered,
        preferably to another consumer."""

    def publish(self, message: Message) -> None:
        """A server-side publish to a generic queue (no RECEIPT waits for it)."""


class Router:
    """Topics and generic queues of one node.

    Queues are bounded (QueueLimits): messages per queue, bytes per queue and over all
    queues, the number of queues, and how long a message may wait.  A publish that
    would pass a bound raises QueueFull (ERROR and close for the publisher); nothing
    grows past them.  A queue with no message and no consumer is forgotten.  `clock`
    is the event loop's (injected, so tests move time themselves); `expire(now)` runs
    from the broker's sweep.
    """

    def __init__(
        self, limits: QueueLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits if limits is not None else QueueLimits()
        self.clock = clock
        self.topics: dict[str, dict[Subscription, None]] = {}
        self.queues: dict[str, MessageQueue] = {}
        self.queued_bytes = 0     # over every queue
        self.expired = 0          # messages dropped for their age (a counter for metrics)
        self._next_expiry = float("inf")
        self.shared: SharedQueues | None = None   # generic queues held outside the node

    def add(self, sub: Subscription) -> None:
        if sub.kind is Kind.QUEUE:
            if self.shared is not None:
                self.shared.add(sub)
                return
            queue = self.queues.get(sub.destination)
            if queue is None:
                queue = self.queues[sub.destination] = MessageQueue()
            queue.consumers.append(sub)
            self._dispatch(sub.destination, queue)
        else:
            self.topics.setdefault(sub.destination, {})[sub] = None

    def remove(self, sub: Subscription) -> None:
        """Forget `sub`; unacked queue messages go back to the front of the queue."""
        if not sub.active:
            return
        sub.active = False
        if sub.kind is Kind.QUEUE:
            if self.shared is not None:
                unacked = [m for m, _ in sub.unacked.values()] if sub.unacked else []
                if sub.unacked:
                    sub.unacked.clear()
                if sub.by_mid:
                    sub.by_mid.clear()
                self.shared.remove(sub, unacked)
                return
            queue = self.queues.get(sub.destination)
            if queue is None:
                return
            if sub in queue.consumers:
                queue.consumers.remove(sub)
            if sub.unacked:
                self.requeue(sub, [m for m, _ in sub.unacked.values()], avoid=None)
                sub.unacked.clear()
            if sub.by_mid:
                sub.by_mid.clear()
            self._reclaim(sub.destination, queue)
        else:
            subs = self.topics.get(sub.destination)
            if subs is not None:
                subs.pop(sub, None)
                if not subs:
                    del self.topics[sub.destination]

    def requeue(
        self, sub: Subscription, messages: Iterable[Message], avoid: Subscription | None
    ) -> None:
        """Put `messages` (in delivery order, unacknowledged, so still counted in the
        queue's bytes) back at the front of sub's queue."""
        if self.shared is not None:
            self.shared.returned(sub, list(messages))
            return
        queue = self.queues.get(sub.destination)
        if queue is None:   # cannot happen while a message of it is unacked; be safe
            queue = self.queues[sub.destination] = MessageQueue()
            for message in messages:
                size = message_size(message)
                queue.bytes += size
                self.queued_bytes += size
        now = self.clock()
        for message in reversed(list(messages)):
            queue.pending.appendleft((message, True, avoid, now))
        self._note_expiry(now)
        self._dispatch(sub.destination, queue)

    def acknowledged(self, sub: Subscription, messages: Iterable[Message]) -> None:
        """`messages` delivered to `sub` (a queue subscription in a client ack mode)
        were acknowledged: the queue no longer holds them."""
        if sub.kind is not Kind.QUEUE:
            return
        if self.shared is not None:
            self.shared.acknowledged(sub, list(messages))
            return
        queue = self.queues.get(sub.destination)
        if queue is None:
            return
        for message in messages:
            self._release(queue, message_size(message))
        self._reclaim(sub.destination, queue)

    def publish(self, kind: Kind, message: Message) -> bool:
        """Deliver `message` (QueueFull past a generic queue's bound); True if a
        consumer it reached is congested."""
        if kind is Kind.QUEUE:
            if self.shared is not None:
                self.shared.publish(message)
                return False
            return self._enqueue(message)
        subs = self.topics.get(message.destination)
        if not subs:
            return False
        congested = False
        for sub in tuple(subs):
            if sub.consumer.deliver(sub, message, False):
                congested = True
        return congested

    def _enqueue(self, message: Message) -> bool:
        limits = self.limits
        destination = message.destination
        queue = self.queues.get(destination)
        now = self.clock()
        if now >= self._next_expiry:
            self.expire(now)
            queue = self.queues.get(destination)
        size = message_size(message)
        if queue is None:
            if len(self.queues) >= limits.max_queues:
                raise QueueFull(f"too many queues ({limits.max_queues}): {destination} refused")
            fresh = True
            queue = MessageQueue()
        else:
            fresh = False
            if len(queue.pending) >= limits.max_depth:
                raise QueueFull(f"queue {destination} is full")
            if queue.bytes + size > limits.max_bytes:
                raise QueueFull(f"queue {destination} is full ({limits.max_bytes} bytes)")
        if self.queued_bytes + size > limits.max_total_bytes:
            raise QueueFull("the node's queues are full, retry later")
        if size > limits.max_bytes:
            raise QueueFull(f"queue {destination} is full ({limits.max_bytes} bytes)")
        if fresh:
            self.queues[destination] = queue
        queue.bytes += size
        self.queued_bytes += size
        queue.pending.append((message, False, None, now))
        self._note_expiry(now)
        return self._dispatch(destination, queue)

    def _dispatch(self, destination: str, queue: MessageQueue) -> bool:
        """Hand pending messages to consumers; True if one of them is congested."""
        congested = False
        pending = queue.pending
        while pending and queue.consumers:
            message, redelivered, avoid, _ = pending[0]
            sub = queue._next(avoid)
            if sub is None:
                break
            pending.popleft()
            if sub.ack_mode is AckMode.AUTO:
                self._release(queue, message_size(message))
            if sub.consumer.deliver(sub, message, redelivered):
                congested = True
        self._reclaim(destination, queue)
        return congested

    def _release(self, queue: MessageQueue, size: int) -> None:
        queue.bytes -= size
        self.queued_bytes -= size

    def _reclaim(self, destination: str, queue: MessageQueue) -> None:
        """Forget a queue that holds nothing and has no consumer."""
        if (not queue.pending and not queue.consumers and queue.bytes <= 0
                and self.queues.get(destination) is queue):
            del self.queues[destination]

    def _note_expiry(self, queued_at: float) -> None:
        ttl = self.limits.ttl
        if ttl > 0 and queued_at + ttl < self._next_expiry:
            self._next_expiry = queued_at + ttl

    def expire(self, now: float) -> None:
        """Drop the messages that waited longer than the TTL (cheap until the oldest
        may have: `_next_expiry` is the earliest deadline of a waiting message)."""
        ttl = self.limits.ttl
        if ttl <= 0 or now < self._next_expiry:
            return
        deadline = now - ttl
        earliest = float("inf")
        for destination, queue in list(self.queues.items()):
            pending = queue.pending
            if not pending:
                continue
            if any(entry[3] <= deadline for entry in pending):
                kept: deque[tuple[Message, bool, Subscription | None, float]] = deque()
                for entry in pending:
                    if entry[3] <= deadline:
                        self._release(queue, message_size(entry[0]))
                        self.expired += 1
                    else:
                        kept.append(entry)
                queue.pending = kept
                self._reclaim(destination, queue)
            for entry in queue.pending:
                earliest = min(earliest, entry[3])
        self._next_expiry = earliest + ttl

    def queue_depth(self, destination: str) -> int:
        queue = self.queues.get(destination)
        return len(queue.pending) if queue is not None else 0
