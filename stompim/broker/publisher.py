"""The broker's side of `stompim.im.publisher.Publisher`, and the cluster seam.

`BrokerPublisher` delivers to this node's subscribers and hands the same call to
the `Bridge`, which carries it to other nodes.  The default `LocalBridge` does
nothing (a single node).  A Redis bridge implements `Bridge` and calls the
`BridgeSink` methods of the broker for what other nodes published; it must not
echo a node's own messages back to it.

Call order: Broker.__init__ creates the publisher with `LocalBridge`;
`Broker.set_bridge(bridge)` (before start) replaces it and calls
`bridge.attach(broker)`; `Broker.close()` awaits `bridge.close()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .message import STRIPPED_SEND_HEADERS, Headers

__all__ = ["Bridge", "BridgeSink", "BrokerPublisher", "Headers", "LocalBridge", "LocalNode"]

# A server-side publisher may name the message id (the stored chat message id):
# `message-id` stays in the headers, and `Message` makes it the MESSAGE's id.
_NOT_PUBLISHED = STRIPPED_SEND_HEADERS - {"message-id"}


class BridgeSink(Protocol):
    """What a bridge calls on the local broker for remote events."""

    def wants_remote(self, destination: str) -> bool:
        """False when a message to `destination` would reach nobody on this node, so the
        bridge may skip decoding it (checked before `deliver_remote`, same loop turn)."""

    def deliver_remote(self, destination: str, headers: Headers, body: bytes) -> None: ...

    def close_user_sessions_local(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None: ...

    def end_subscriptions_local(self, user_id: int, destination: str, reason: str) -> None: ...


class Bridge(Protocol):
    def attach(self, sink: BridgeSink) -> None: ...

    def forward_message(self, destination: str, headers: Headers, body: bytes) -> None:
        """Non-blocking: queue a topic message for the other nodes."""

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None
    ) -> None: ...

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None: ...

    async def close(self) -> None: ...


class LocalBridge:
    """Single node: nothing to forward."""

    def attach(self, sink: BridgeSink) -> None:
        return None

    def forward_message(self, destination: str, headers: Headers, body: bytes) -> None:
        return None

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None
    ) -> None:
        return None

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        return None

    async def close(self) -> None:
        return None


class LocalNode(BridgeSink, Protocol):
    """The broker, as its publisher sees it: local delivery plus the current bridge."""

    @property
    def bridge(self) -> Bridge: ...

    def publish(self, destination: str, headers: Headers, body: bytes) -> None:
        """Server-side publish on this node, forwarded to the others (topics)."""


class BrokerPublisher:
    """Implements stompim.im.publisher.Publisher for the IM layer.

    A `message-id` in `headers` becomes the MESSAGE's `message-id` for every
    subscriber, on this node and (carried in the headers the bridge forwards) on
    the others.
    """

    def __init__(self, broker: LocalNode) -> None:
        self._broker = broker

    async def publish(
        self, destination: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        pairs = tuple(
            (str(k), str(v)) for k, v in (headers or {}).items()
            if k not in _NOT_PUBLISHED
        )
        self._broker.publish(destination, pairs, body)

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        self._broker.close_user_sessions_local(user_id, reason, token_id)
        await self._broker.bridge.close_user_sessions(user_id, reason, token_id)

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        self._broker.end_subscriptions_local(user_id, destination, reason)
        await self._broker.bridge.end_subscriptions(user_id, destination, reason)
