"""Subscriptions and delivery: topic fan-out and queue round robin.

The router owns no sockets.  It maps a resolved destination to its subscriptions
and calls `Subscription.consumer.deliver()` for each delivery; the consumer (a
session) renders and buffers the bytes and says whether it is congested, so a
publish can tell its publisher "you write into a consumer that does not keep up".
Queues (generic ``/queue/**``) hold messages while no consumer is there, give each
message to one consumer (round robin), and take back unacknowledged messages when a
consumer NACKs or leaves.

Call order: `add(sub)` after the SUBSCRIBE passed the rules; `publish()` per
message; `remove(sub)` on UNSUBSCRIBE or when the session ends (its unacked queue
messages go back to the front of the queue, then to another consumer).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable
from typing import Protocol

from .destinations import DestinationHandler, Kind
from .errors import QueueFull
from .message import Message

__all__ = ["AckMode", "Consumer", "MessageQueue", "QueueFull", "Replay", "Router", "Subscription"]


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


class MessageQueue:
    """Pending messages of one generic queue and its consumers."""

    __slots__ = ("consumers", "pending", "rr")

    def __init__(self) -> None:
        # (message, redelivered, subscription to avoid if another consumer exists)
        self.pending: deque[tuple[Message, bool, Subscription | None]] = deque()
        self.consumers: list[Subscription] = []
        self.rr = 0

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

    def dispatch(self) -> bool:
        """Hand pending messages to consumers; True if one of them is congested."""
        congested = False
        while self.pending and self.consumers:
            message, redelivered, avoid = self.pending[0]
            sub = self._next(avoid)
            if sub is None:
                break
            self.pending.popleft()
            if sub.consumer.deliver(sub, message, redelivered):
                congested = True
        return congested


class Router:
    def __init__(self, max_queue_depth: int) -> None:
        self.max_queue_depth = max_queue_depth
        self.topics: dict[str, dict[Subscription, None]] = {}
        self.queues: dict[str, MessageQueue] = {}

    def add(self, sub: Subscription) -> None:
        if sub.kind is Kind.QUEUE:
            queue = self.queues.get(sub.destination)
            if queue is None:
                queue = self.queues[sub.destination] = MessageQueue()
            queue.consumers.append(sub)
            queue.dispatch()
        else:
            self.topics.setdefault(sub.destination, {})[sub] = None

    def remove(self, sub: Subscription) -> None:
        """Forget `sub`; unacked queue messages go back to the front of the queue."""
        if not sub.active:
            return
        sub.active = False
        if sub.kind is Kind.QUEUE:
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
            if not queue.consumers and not queue.pending:
                del self.queues[sub.destination]
        else:
            subs = self.topics.get(sub.destination)
            if subs is not None:
                subs.pop(sub, None)
                if not subs:
                    del self.topics[sub.destination]

    def requeue(
        self, sub: Subscription, messages: Iterable[Message], avoid: Subscription | None
    ) -> None:
        """Put `messages` (in delivery order) back at the front of sub's queue."""
        queue = self.queues.get(sub.destination)
        if queue is None:
            queue = self.queues[sub.destination] = MessageQueue()
        for message in reversed(list(messages)):
            queue.pending.appendleft((message, True, avoid))
        queue.dispatch()

    def publish(self, kind: Kind, message: Message) -> bool:
        """Deliver `message` (QueueFull for a full generic queue); True if a consumer
        it reached is congested."""
        if kind is Kind.QUEUE:
            queue = self.queues.get(message.destination)
            if queue is None:
                queue = self.queues[message.destination] = MessageQueue()
            if len(queue.pending) >= self.max_queue_depth:
                raise QueueFull(f"queue {message.destination} is full")
            queue.pending.append((message, False, None))
            return queue.dispatch()
        subs = self.topics.get(message.destination)
        if not subs:
            return False
        congested = False
        for sub in tuple(subs):
            if sub.consumer.deliver(sub, message, False):
                congested = True
        return congested

    def queue_depth(self, destination: str) -> int:
        queue = self.queues.get(destination)
        return len(queue.pending) if queue is not None else 0
