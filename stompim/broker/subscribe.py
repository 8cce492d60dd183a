"""SUBSCRIBE and UNSUBSCRIBE, with the replay of a handled destination.

A SUBSCRIBE to a generic or per-user destination registers at once.  One to a
destination a DestinationHandler owns is authorized by the handler first: the session
holds its frames (`Hold.SUBSCRIBE`) and asks the broker (`AuthorizeSubscribe`); the
answer comes back as `subscribe_authorized` (registered now; live messages start to
arrive) and, with ``x-since-seq``, `replayed` (the stored messages after that seq, then
the live ones that arrived meanwhile and were not among them), or `subscribe_refused`
(ERROR and close).  The SUBSCRIBE's RECEIPT comes after the replay, so "RECEIPT" means
"everything stored up to now was sent".

An ordered stream (DestinationHandler.ordered) always takes the `replayed` path: with
``x-since-seq`` from there, else from the handler's `head`; from then on the
subscription's `cursor` is the last seq delivered (SessionCore.in_order), and a hole
is filled through `gap_filled`.
"""

from __future__ import annotations

import logging
from typing import Any

from stompim.frames import V1_0, Frame
from stompim.logs import session_fields

from .core import OWN_ANSWER, SessionCore
from .destinations import Route
from .errors import FrameRefused
from .events import AuthorizeSubscribe
from .message import Message
from .records import PendingSubscribe, require
from .router import AckMode, Replay, Subscription
from .states import Hold, State
from .values import parse_uint

__all__ = [
    "end_subscriptions",
    "gap_covered",
    "gap_filled",
    "gap_unfilled",
    "on_subscribe",
    "on_unsubscribe",
    "replayed",
    "subscribe_authorized",
    "subscribe_refused",
]

log = logging.getLogger(__name__)


def on_subscribe(session: SessionCore, frame: Frame) -> Any:
    destination = require(frame, "destination")
    sub_id = frame.get("id")
    if sub_id is None:
        if session.version != V1_0:
            raise FrameRefused("missing id header in SUBSCRIBE")
        sub_id = destination
    if sub_id in session.subs:
        raise FrameRefused(f"subscription id {sub_id!r} already in use")
    if len(session.subs) >= session.ctx.config.max_subscriptions:
        raise FrameRefused("too many subscriptions")
    try:
        ack_mode = AckMode(frame.get("ack", "auto"))
    except ValueError:
        raise FrameRefused(f"invalid ack mode {frame.get('ack')!r}") from None
    assert session.principal is not None
    route = session.ctx.rules.for_subscribe(destination, session.principal)
    since_text = frame.get("x-since-seq")
    since: int | None = None
    if since_text is not None:
        since = parse_uint(since_text)
        if since is None:
            raise FrameRefused(f"invalid x-since-seq {since_text!r}")
    if route.handler is None:
        _register(session, sub_id, route, ack_mode)
        return None
    token = session.reserve(frame.get("receipt"))
    session.subscribing = PendingSubscribe(
        token, frame.get("receipt"), sub_id, route, ack_mode, since
    )
    session.set_hold(Hold.SUBSCRIBE)
    session.emit_event(AuthorizeSubscribe(
        token, route.handler, session.principal, route.destination, since
    ))
    return OWN_ANSWER


def _register(session: SessionCore, sub_id: str, route: Route, ack_mode: AckMode) -> Subscription:
    sub = Subscription(
        session, sub_id, route.destination, route.kind, ack_mode,
        session.subscription_prefix(sub_id),
    )
    session.subs[sub_id] = sub
    session.ctx.exchange.router.add(sub)
    return sub


def _pending(session: SessionCore, token: int) -> PendingSubscribe | None:
    pending = session.subscribing
    return pending if pending is not None and pending.token == token else None


def _done(session: SessionCore, pending: PendingSubscribe) -> None:
    session.subscribing = None
    session.settle(pending.token, {})
    session.release_hold(Hold.SUBSCRIBE)


def subscribe_authorized(session: SessionCore, token: int, ordered: bool = False) -> None:
    """The handler allowed it: register now (live messages wait while a replay, or for
    an ordered stream the `head` query, runs)."""
    pending = _pending(session, token)
    if pending is None:
        return
    if session.state is not State.CONNECTED:   # draining: answer, register nothing
        _done(session, pending)
        return
    sub = _register(session, pending.sub_id, pending.route, pending.ack_mode)
    if ordered:
        sub.source = pending.route.handler
    elif pending.since is None:
        _done(session, pending)
        return
    sub.replay = Replay()


Rows = list[tuple[dict[str, str], bytes]]


def replayed(session: SessionCore, token: int, rows: Rows, start: int | None = None) -> None:
    """The stored messages after `since`, in order: send them, then the live ones that
    arrived meanwhile unless the replay sent them.  `start`: an ordered stream's
    starting seq (x-since-seq, or the handler's head)."""
    pending = _pending(session, token)
    if pending is None:
        return
    sub = session.subs.get(pending.sub_id)
    replay = sub.replay if sub is not None else None
    if sub is None or replay is None or replay.buffer is None or not session.is_open:
        _done(session, pending)
        return
    if sub.source is not None:
        sub.cursor = start if start is not None else 0
        _release(session, sub, rows, queried=False)   # live ones after the query may
        # show a hole the query could not see yet: in_order asks for it
        _done(session, pending)
        return
    node_id = session.ctx.exchange.node_id
    for headers, body in rows:
        message = Message(sub.destination, tuple(headers.items()), body, node_id)
        replay.ids.add(message.message_id)
        session.emit(sub, message, False)
    live, replay.buffer = replay.buffer, None
    for message in live:
        if message.message_id not in replay.ids:
            session.emit(sub, message, False)
    if replay.ids:
        if session.replays is None:
            session.replays = []
        session.replays.append(sub)
    else:
        sub.replay = None
    _done(session, pending)


def _release(session: SessionCore, sub: Subscription, rows: Rows,
             queried: bool = True) -> None:
    """An ordered stream's rows from the handler (after `sub.cursor`, in order; rows
    without a seq, events such as missed edits, go out as they come), then
    the live messages held meanwhile, in seq order (messages without one first), each
    delivered or dropped (SessionCore.in_order; one may open the next hole, which holds
    the rest again).  A hole the handler was `queried` for and did not fill (it has
    nothing there: it broke its promise) is passed over, logged, rather than waited
    for forever."""
    replay = sub.replay
    assert replay is not None and replay.buffer is not None and sub.cursor is not None
    held, sub.replay = sorted(replay.buffer, key=_seq_or_first), None
    before = sub.cursor
    node_id = session.ctx.exchange.node_id
    for headers, body in rows:
        message = Message(sub.destination, tuple(headers.items()), body, node_id)
        seq = message.seq
        if seq is None:   # an event the handler replays (DestinationHandler: they pass)
            session.emit(sub, message, False)
            continue
        if seq <= sub.cursor:
            continue
        sub.cursor = seq
        session.emit(sub, message, False)
    if queried and sub.cursor == before:
        _pass_over(session, sub, held)
    for index, message in enumerate(held):
        if session.in_order(sub, message):
            session.emit(sub, message, False)
        elif (hole := _holding(sub)) is not None:   # a hole again: the rest waits behind it
            hole.extend(held[index + 1:])
            return


def _holding(sub: Subscription) -> list[Message] | None:
    """The buffer of live messages held behind a hole being filled, if one is."""
    replay = sub.replay
    return replay.buffer if replay is not None else None


def _seq_or_first(message: Message) -> int:
    seq = message.seq
    return -1 if seq is None else seq


def _next_held(sub: Subscription, held: list[Message]) -> int | None:
    """The lowest seq held past the cursor (None: none)."""
    assert sub.cursor is not None
    seqs = [s for m in held if (s := m.seq) is not None and s > sub.cursor]
    return min(seqs) if seqs else None


def _pass_over(session: SessionCore, sub: Subscription, held: list[Message]) -> None:
    seq = _next_held(sub, held)
    if seq is not None and sub.cursor is not None and seq > sub.cursor + 1:
        log.warning("session %s: %s has no messages %d..%d; passed over", session.id,
                    sub.destination, sub.cursor + 1, seq - 1, extra=session_fields(session))
        sub.cursor = seq - 1


def gap_covered(session: SessionCore, sub: Subscription) -> bool:
    """Whether the hole `FillGap` reported was closed meanwhile by live messages (the
    usual case: another node's publish was only a little late), or needs no filling
    any more (the subscription is gone): then no query is made."""
    if session.subs.get(sub.id) is not sub or sub.replay is None or not session.is_open:
        return True
    held = sub.replay.buffer
    assert held is not None and sub.cursor is not None
    return _next_held(sub, held) == sub.cursor + 1


def gap_filled(session: SessionCore, sub: Subscription, rows: Rows,
               queried: bool = True) -> None:
    """The answer to `FillGap`: the messages of the hole (and maybe after it) when the
    handler was `queried`; none when live messages closed it (`gap_covered`)."""
    if session.subs.get(sub.id) is not sub or sub.replay is None or not session.is_open:
        return
    _release(session, sub, rows, queried)


def gap_unfilled(session: SessionCore, sub: Subscription, reason: str) -> None:
    """The handler could not fill a hole (`reason`: its store did not answer, or it
    refused): delivering past it would move the client's cursor over messages it never
    got, so the session ends with ERROR; the client reconnects and resumes from the
    last seq it saw."""
    if session.subs.get(sub.id) is sub:
        session.fail(f"{reason} (a gap of {sub.destination[:80]} could not be filled)")


def subscribe_refused(session: SessionCore, token: int, message: str) -> None:
    """The handler refused (or failed): ERROR and close."""
    pending = _pending(session, token)
    if pending is None:
        return
    session.subscribing = None
    session.fail(message, pending.receipt)


def on_unsubscribe(session: SessionCore, frame: Frame) -> Any:
    sub_id = frame.get("id")
    if sub_id is None:
        if session.version != V1_0:
            raise FrameRefused("missing id header in UNSUBSCRIBE")
        sub_id = require(frame, "destination")
    sub = session.subs.get(sub_id)
    if sub is not None:
        session.unsubscribe(sub)
    return None


def end_subscriptions(session: SessionCore, destination: str, reason: str) -> None:
    """Server side: drop this session's subscriptions to `destination`."""
    for sub in list(session.subs.values()):
        if sub.destination == destination:
            log.info("session %s: subscription %s ended: %s", session.id, sub.id, reason,
                     extra=session_fields(session))
            session.unsubscribe(sub)
