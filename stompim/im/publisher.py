"""What the IM domain needs from the broker, as an interface the broker implements.

`im` never imports `broker`: services are handed a Publisher at wiring time
(app.py). Publishing reaches subscribers on this node and, through the cluster
bridge, on every other node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class Publisher(Protocol):
    async def publish(
        self, destination: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        """Deliver a MESSAGE to every subscriber of `destination`, cluster-wide."""

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        """Send ERROR and close the user's sessions (only those opened with `token_id`
        when it is given), cluster-wide."""

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        """Drop the user's subscriptions to `destination` on every session, cluster-wide."""


class NullPublisher:
    """A Publisher that delivers nothing: for tools and tests without a broker."""

    async def publish(
        self, destination: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        return None

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        return None

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        return None
