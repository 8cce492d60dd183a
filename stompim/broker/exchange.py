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

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from stompim.frames import Command
from stompim.metrics import Buckets

from .destinations import DestinationRules, Kind
from .message import Headers, Message
from .router import Router

__all__ = ["TRANSPORTS", "Exchange", "Stats", "error_reason"]


TRANSPORTS = ("tcp", "websocket")
"""The transports a connection comes over (index 1 when `websocket`)."""

MAX_ERROR_REASONS = 64
"""Distinct ERROR reasons counted by name; later ones are counted as "other"."""


@dataclass
class Stats:
    """Counters for /metrics (mutable on purpose: bumped on hot paths with plain integer
    arithmetic; stompim.broker.metrics reads them at scrape time).  Per-transport
    counters are lists indexed like TRANSPORTS."""

    connections: int = 0
    connections_total: int = 0
    messages_in: int = 0    # SENDs performed (published, or handed to a handler)
    published: int = 0      # of which published (generic destinations)
    messages_out: int = 0   # MESSAGE frames rendered
    bytes_in: int = 0
    bytes_out: int = 0
    open_by_transport: list[int] = field(default_factory=lambda: [0, 0])
    accepted_by_transport: list[int] = field(default_factory=lambda: [0, 0])
    sessions_by_transport: list[int] = field(default_factory=lambda: [0, 0])
    frames_in: dict[Command, int] = field(default_factory=lambda: dict.fromkeys(Command, 0))
    receipts_out: int = 0
    errors_out: int = 0
    connected_out: int = 0
    heartbeats_out: int = 0
    error_reasons: dict[str, int] = field(default_factory=dict)
    slow_consumer_drops: dict[str, int] = field(default_factory=dict)
    refusals: dict[int, int] = field(default_factory=dict)   # STOMP x-error-code -> count
    send_delivery: Buckets = field(default_factory=Buckets)   # generic SEND read -> written
    send_stored: Buckets = field(default_factory=Buckets)     # handled SEND read -> stored
    send_refused: Buckets = field(default_factory=Buckets)    # handled SEND read -> refused

    def error_sent(self, message: str) -> None:
        """An ERROR frame went out with `message`; counted under its reason (the
        message without the client's values: `error_reason`), at most
        MAX_ERROR_REASONS of them."""
        self.errors_out += 1
        reason = error_reason(message)
        reasons = self.error_reasons
        if reason not in reasons and len(reasons) >= MAX_ERROR_REASONS:
            reason = "other"
        reasons[reason] = reasons.get(reason, 0) + 1


_CLIENT_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|/\S*|\d+")


def error_reason(message: str) -> str:
    """An ERROR message as a label value: up to its first colon ("forbidden: /x/y" ->
    "forbidden"), quoted values, destinations and numbers replaced by "_"."""
    head = message.split(":", 1)[0]
    return _CLIENT_VALUES.sub("_", head).strip()[:80] or "unknown"


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

    def publish_message(self, kind: Kind, message: Message) -> bool:
        """`publish` (forwarded) of a message already built: a client SEND the SEND fast
        path took (stompim.broker.send_fastpath); its headers are parsed only for the
        bridge."""
        congested = self.router.publish(kind, message)
        if kind is Kind.TOPIC and self.forward is not None:
            self.forward(message.destination, message.headers, message.body)
        return congested
