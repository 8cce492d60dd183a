"""What a sans-I/O session asks of the world: its events.

The session (stompim.broker.session) never waits, spawns or reads a clock.  When a
frame needs something only the broker can do (run the Authenticator, call a
DestinationHandler, pause the transport, close it), the session appends one of these
events and carries on; the broker takes them with `Session.events()` after every
call into the session, acts, and feeds the result back through the session method
each event names.  Events are taken and acted on in the order they were made (so
`BeginSend`s reach the handler in frame order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .auth import Principal
from .destinations import DestinationHandler
from .router import Subscription

__all__ = [
    "Acknowledged",
    "Authenticate",
    "AuthorizeSubscribe",
    "BeginSend",
    "Close",
    "FillGap",
    "PauseReading",
    "ResumeReading",
    "SessionEvent",
]


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Check these CONNECT credentials.  Answer: `Session.authenticated(principal)`
    (after the per-user connection limit held) or `Session.connect_refused(message)`."""

    headers: Mapping[str, str]
    handshake_token: str | None


@dataclass(frozen=True, slots=True)
class AuthorizeSubscribe:
    """Ask `handler` whether `principal` may subscribe to `destination`, then, when
    `since` is not None, fetch the replay.  Answers, in order:
    `Session.subscribe_authorized(token)`, then (with `since`)
    `Session.replayed(token, rows)`; or `Session.subscribe_refused(token, message)`."""

    token: int
    handler: DestinationHandler
    principal: Principal
    destination: str
    since: int | None


@dataclass(frozen=True, slots=True)
class FillGap:
    """An ordered stream's subscription saw a message past the next seq: fetch what
    follows `since` (`sub.source.replay`).  Answer: `Session.gap_filled(sub, rows)`,
    or `Session.gap_unfilled(sub, reason)` when the handler failed."""

    sub: Subscription
    principal: Principal
    since: int


@dataclass(frozen=True, slots=True)
class BeginSend:
    """Perform this handled SEND now (`handler.begin_send`).  Answer:
    `Session.send_settled(token, outcome)` once its Future is done (or at once for a
    refusal raised by begin_send).  The broker cancels the Future when the session
    closes first."""

    token: int
    handler: DestinationHandler
    principal: Principal
    destination: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class PauseReading:
    """Stop reading the transport: the session holds frames.  With `throttle` the
    session published into a congested consumer: the broker resumes it
    (`Session.resume_reading()`) when consumers drain or after a short bound."""

    throttle: bool = False


@dataclass(frozen=True, slots=True)
class ResumeReading:
    """Read the transport again."""


@dataclass(frozen=True, slots=True)
class Close:
    """Write what `data_to_send()` holds, then close the transport (or, with `abort`,
    drop it unsent: a slow consumer).  Withdraw the sends still in flight (cancel their
    Futures).  The session is CLOSING; nothing more comes out of it."""

    abort: bool = False


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """`principal` ACKed these MESSAGEs (their headers) of `destination`, owned by
    `handler`: tell it (`handler.acknowledged(...)`, when it has that method). No
    answer: the ACK itself is already done."""

    handler: DestinationHandler
    principal: Principal
    destination: str
    headers: tuple[Mapping[str, str], ...]


SessionEvent = (
    Authenticate | AuthorizeSubscribe | BeginSend | FillGap | PauseReading | ResumeReading
    | Close | Acknowledged
)
