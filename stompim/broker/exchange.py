"""The node's message exchange: destination rules and router, shared by every session.

In memory and synchronous (no I/O, no awaiting): a session publishes a client SEND
through it and learns at once whether the publish reached a congested consumer (its
own flow control) or a full queue (an error for that frame).  Server-side publishes
(the IM layer's, through `BrokerPublisher`) and messages from other nodes (the
cluster bridge) enter here too.  Topic messages published on this node are handed to
`forward` (the bridge) when one is set.

Call order: `Exchange(rules, router, node_id)`, optionally `forward = ...`, then
`publish` from anywhere on the event loop's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .destinations import DestinationRules, Kind
from .message import Headers, Message
from .router import Router

__all__ = ["Exchange", "Stats"]


@dataclass
class Stats:
    """Counters for /metrics (mutable on purpose: bumped on hot paths)."""

    connections: int = 0
    connections_total: int = 0
    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


class Exchange:
    def __init__(self, rules: DestinationRules, router: Router, node_id: str = "") -> None:
        self.rules = rules
        self.router = router
        self.node_id = node_id
        self.forward: Callable[[str, Headers, bytes], None] | None = None

    def publish(
        self, kind: Kind, destination: str, headers: Headers, body: bytes, *, forward: bool
    ) -> bool:
        """Deliver on this node (QueueFull for a full generic queue) and, when
        `forward`, hand a topic message to the bridge.  True if a consumer it reached
        is congested."""
        congested = self.router.publish(kind, Message(destination, headers, body, self.node_id))
        if forward and kind is Kind.TOPIC and self.forward is not None:
            self.forward(destination, headers, body)
        return congested
