"""Subscriptions and delivery: topic fan-out and queue round robin.

The router owns no sockets.  It maps a resolved destination to its subscriptions
and calls `Subscription.session.deliver()` for each delivery; the session renders
and buffers the bytes.  Queues (generic ``/queue/**``) hold messages while no
consumer is there, give each message to one consumer (round robin), and take back
unacknowledged messages when a consumer NACKs or leaves.

Call order: `add(sub)` after the SUBSCRIBE passed the rules; `publish()` per
message; `remove(sub)` on UNSUBSCRIBE or when the session ends (its unacked queue
messages go back to the front of the queue, then to another consumer).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .destinations import Kind
from .message import Message

if TYPE_CHECKING:
    from .session import Session

__all__ = ["AckMode", "MessageQueue", "QueueFull", "Router", "Subscription"]


class AckMode(enum.Enum):
    AUTO = "auto"
    """Delivered = consumed; no ACK expected."""
    CLIENT = "client"
    """ACK is cumulative: it acknowledges every earlier unacked message too."""
    CLIENT_INDIVIDUAL = "client-individual"
    """ACK/NACK applies to exactly one message."""


class QueueFull(Exception):
    """A generic queue already holds `max_queue_depth` messages."""


class Subscription:
    """One SUBSCRIBE of one session.

    `unacked` maps ack id -> (message, redelivered) in delivery order; `by_mid`
    maps message id -> ack id for 1.0/1.1 ACKs.  Both exist only in the client
    ack modes (None for auto: an idle subscription stays small).  While `buffer`
    is a list, live messages are held there (replay in progress).  `floor` is the
    highest `seq` a replay covered: live messages with a seq at or below it are
    dropped for the subscription's whole life (events, without seq, always pass).
    """

    __slots__ = (
        "ack_mode",
        "active",
        "buffer",
        "by_mid",
        "destination",
        "floor",
        "id",
        "kind",
        "prefix",
        "session",
        "unacked",
    )

    def __init__(
        self, session: Session, sub_id: str, destination: str, kind: Kind,
        ack_mode: AckMode, prefix: bytes,
    ) -> None:
        self.session = session
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
        self.buffer: list[Message] | None = None
        self.active = True
        self.floor: int | None = None


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
            if sub.session.is_open:
                self.rr = (self.rr + i + 1) % n
                return sub
        return None

    def dispatch(self) -> None:
        while self.pending and self.consumers:
            message, redelivered, avoid = self.pending[0]
            sub = self._next(avoid)
            if sub is None:
                return
            self.pending.popleft()
            sub.session.deliver(sub, message, redelivered)


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

    def publish(self, kind: Kind, message: Message) -> int:
        """Deliver `message`; returns how many subscriptions got it (0 = held/dropped)."""
        if kind is Kind.QUEUE:
            queue = self.queues.get(message.destination)
            if queue is None:
                queue = self.queues[message.destination] = MessageQueue()
            if len(queue.pending) >= self.max_queue_depth:
                raise QueueFull(f"queue {message.destination} is full")
            queue.pending.append((message, False, None))
            queue.dispatch()
            return 1
        subs = self.topics.get(message.destination)
        if not subs:
            return 0
        for sub in tuple(subs):
            sub.session.deliver(sub, message, False)
        return len(subs)

    def queue_depth(self, destination: str) -> int:
        queue = self.queues.get(destination)
        return len(queue.pending) if queue is not None else 0
