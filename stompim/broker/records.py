"""Small records of a session's state, and header helpers of the command handlers.

Each record exists only while it is needed (an idle session holds none of them):
`Answer` (a place in the ordered answers), `Finale` (how a draining session ends),
`PendingSubscribe` (a handled SUBSCRIBE being authorized), `OpenTransactions` (frames
held for COMMIT).
"""

from __future__ import annotations

from typing import Any

from stompim.config import StompConfig
from stompim.frames import Frame

from .destinations import Route
from .errors import FrameRefused
from .router import AckMode

__all__ = [
    "PENDING",
    "Answer",
    "Finale",
    "OpenTransactions",
    "PendingSubscribe",
    "first_wins",
    "require",
]

PENDING: Any = object()
"""The outcome of an Answer not settled yet."""


def require(frame: Frame, name: str) -> str:
    """The header `name` of `frame`; FrameRefused when it is missing."""
    value = frame.get(name)
    if value is None:
        raise FrameRefused(f"missing {name} header in {frame.command.value}")
    return value


def first_wins(frame: Frame) -> dict[str, str]:
    """The headers of `frame` as a dict, the first of repeated names winning (spec)."""
    headers: dict[str, str] = {}
    for name, value in frame.headers:
        headers.setdefault(name, value)
    return headers


class Answer:
    """A place in the ordered answers of a session: `receipt` (None: nothing to
    acknowledge, but a refusal is still told) and `outcome` (PENDING until settled:
    RECEIPT headers, or a Refusal or Unavailable)."""

    __slots__ = ("outcome", "receipt")

    def __init__(self, receipt: str | None, outcome: Any = PENDING) -> None:
        self.receipt = receipt
        self.outcome = outcome


class Finale:
    """How a DRAINING session ends once nothing is owed: the RECEIPT of its DISCONNECT
    (`receipt`, may be None: no receipt asked), or ERROR `error` (server shutdown)."""

    __slots__ = ("error", "receipt")

    def __init__(self, receipt: str | None = None, error: str | None = None) -> None:
        self.receipt = receipt
        self.error = error


class PendingSubscribe:
    """A SUBSCRIBE to a handled destination while it is authorized and replayed."""

    __slots__ = ("ack_mode", "receipt", "route", "since", "sub_id", "token")

    def __init__(
        self, token: int, receipt: str | None, sub_id: str, route: Route, ack_mode: AckMode,
        since: int | None,
    ) -> None:
        self.token = token
        self.receipt = receipt
        self.sub_id = sub_id
        self.route = route
        self.ack_mode = ack_mode
        self.since = since


def held_size(frame: Frame) -> int:
    """The bytes a held frame counts for: body and header text."""
    return len(frame.body) + sum([len(n) + len(v) + 2 for n, v in frame.headers])


class OpenTransactions:
    """The transactions a session has begun (created on first BEGIN): held frames per
    name, and the bytes they hold together (bounded per session)."""

    __slots__ = ("held", "held_bytes")

    def __init__(self) -> None:
        self.held: dict[str, list[Frame]] = {}
        self.held_bytes = 0

    @staticmethod
    def hold(txs: OpenTransactions | None, transaction: str, frame: Frame,
             config: StompConfig) -> None:
        """Keep `frame` for the COMMIT of `transaction` (FrameRefused: unknown
        transaction, or a per-transaction frame or per-session byte limit passed)."""
        held = txs.held.get(transaction) if txs is not None else None
        if txs is None or held is None:
            raise FrameRefused(f"unknown transaction {transaction!r}")
        if len(held) >= config.max_transaction_frames:
            raise FrameRefused(f"transaction {transaction!r} holds too many frames")
        size = held_size(frame)
        if txs.held_bytes + size > config.max_transaction_bytes:
            raise FrameRefused("transactions hold too many bytes")
        held.append(frame)
        txs.held_bytes += size

    def take(self, transaction: str) -> list[Frame]:
        """The frames of `transaction`, which ends (FrameRefused if it is unknown)."""
        held = self.held.pop(transaction, None)
        if held is None:
            raise FrameRefused(f"unknown transaction {transaction!r}")
        self.held_bytes -= sum([held_size(f) for f in held])
        return held
