"""The seam for generic queues shared by several nodes (stompim.cluster.queues).

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

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from .message import Message

if TYPE_CHECKING:
    from .router import Subscription

__all__ = ["SharedQueues"]


class SharedQueues(Protocol):
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
