"""SEND: to a generic destination (published at once) or to a DestinationHandler
(stored, then answered), with one answer per receipt, in frame order.

A generic SEND is delivered through the exchange while the frame is processed; if it
reached a congested consumer, this publisher (and only it) pauses reading for a short
while (`Hold.THROTTLE`).  A handled SEND reserves its place in the session's answers
and asks the broker to call the handler (`BeginSend`, in frame order, so the handler
stores in frame order); the session reads on meanwhile, up to MAX_SENDS_IN_FLIGHT.
When the handler's Future is done the broker calls `send_settled`: a RECEIPT with the
handler's headers (message-id, seq, conversation-id: "stored"), or a refusal (a
Refusal keeps its code, Unavailable is 3001), each in its place.

A SEND with a `transaction` header is held (stompim.broker.transactions): a generic
one is acknowledged as held, a handled one is answered only once COMMIT stored it.
"""

from __future__ import annotations

import logging
from typing import Any

from stompim.errors import INTERNAL_ERROR_MESSAGE, Refusal, Unavailable
from stompim.frames import Frame

from .context import MAX_SENDS_IN_FLIGHT
from .core import OWN_ANSWER, SessionCore
from .destinations import Route
from .errors import FrameRefused
from .events import BeginSend
from .message import STRIPPED_SEND_HEADERS
from .records import OpenTransactions, first_wins, require
from .states import Hold

__all__ = ["on_send", "perform_send", "send_settled"]

log = logging.getLogger(__name__)


def on_send(session: SessionCore, frame: Frame) -> Any:
    destination = require(frame, "destination")
    assert session.principal is not None
    route = session.ctx.rules.for_send(destination, session.principal)
    transaction = frame.get("transaction")
    if transaction is not None:
        OpenTransactions.hold(session.transactions, transaction, frame, session.ctx.config)
        return OWN_ANSWER if route.handler is not None else None
    return perform_send(session, frame, route)


def perform_send(session: SessionCore, frame: Frame, route: Route) -> Any:
    """Publish or hand to the handler; OWN_ANSWER when the answer comes later."""
    ctx = session.ctx
    ctx.stats.messages_in += 1
    handler = route.handler
    if handler is not None:
        assert session.principal is not None
        token = session.reserve(frame.get("receipt"))
        session.sends += 1
        session.emit_event(BeginSend(
            token, handler, session.principal, route.destination, first_wins(frame), frame.body
        ))
        if session.sends >= MAX_SENDS_IN_FLIGHT:
            session.set_hold(Hold.SENDS)
        return OWN_ANSWER
    ctx.stats.published += 1
    headers = tuple([h for h in frame.headers if h[0] not in STRIPPED_SEND_HEADERS])
    if ctx.exchange.publish(route.kind, route.destination, headers, frame.body, forward=True):
        session.set_hold(Hold.THROTTLE)
    return None


def send_settled(session: SessionCore, token: int, outcome: Any) -> None:
    """The outcome of the handled SEND `token`: RECEIPT headers (stored), a Refusal or
    Unavailable (refused), a FrameRefused (in its place among the answers: ERROR with
    its message and close, as for the same frame refused at once: a full shared
    queue), or another exception (a bug
    in the handler: ERROR "internal error").  Ignored when nothing is owed for `token`
    (the session closed first)."""
    if isinstance(outcome, BaseException) and not isinstance(
        outcome, Refusal | Unavailable | FrameRefused
    ):
        if session.pending and token in session.pending:
            log.error("session %s: a handled SEND failed", session.id, exc_info=outcome)
            session.fail(INTERNAL_ERROR_MESSAGE)
        return
    if not session.settle(token, outcome):
        return
    session.sends -= 1
    if session.hold is Hold.SENDS and session.sends < MAX_SENDS_IN_FLIGHT:
        session.release_hold(Hold.SENDS)
