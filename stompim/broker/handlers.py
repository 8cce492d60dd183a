"""Client command handlers, dispatched by `HANDLERS[command]` (no name lookups).

Each handler takes (session, frame) and returns:

* None or a mapping -> done; the session sends RECEIPT (mapping = extra headers)
  when the frame carried `receipt`;
* NO_RECEIPT -> done, no automatic RECEIPT (CONNECT, DISCONNECT, business refusal);
* a coroutine -> the session awaits it (in order with later frames) and treats
  its return value as above.

A handler refuses a frame by raising FrameRefused (ERROR + close).  Spec sections
cited are those of STOMP 1.2 unless said otherwise.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stompim.errors import Refusal, Unavailable
from stompim.frames import SUPPORTED_VERSIONS, V1_0, V1_2, Command, Frame

from .auth import AuthenticationFailed
from .destinations import DestinationRefused, Kind, Route, errors_destination
from .errors import FrameRefused
from .message import STRIPPED_SEND_HEADERS, Message
from .router import AckMode, QueueFull, Subscription
from .session import NO_RECEIPT
from .states import Event, State

if TYPE_CHECKING:
    from .destinations import DestinationHandler
    from .session import Session

__all__ = ["HANDLERS", "negotiate_heartbeat", "negotiate_version"]

log = logging.getLogger(__name__)


def _require(frame: Frame, name: str) -> str:
    value = frame.get(name)
    if value is None:
        raise FrameRefused(f"missing {name} header in {frame.command.value}")
    return value


def _first_wins(frame: Frame) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in frame.headers:
        headers.setdefault(name, value)
    return headers


# ------------------------------------------------------------------ CONNECT


def negotiate_version(accept_version: str | None) -> str | None:
    """Highest common version (spec "Protocol Negotiation"); absent header = 1.0."""
    if accept_version is None:
        return V1_0
    offered = {v.strip() for v in accept_version.split(",")}
    for version in reversed(SUPPORTED_VERSIONS):
        if version in offered:
            return version
    return None


def negotiate_heartbeat(header: str | None, send_ms: int, recv_ms: int) -> tuple[int, int]:
    """(server->client ms, client->server ms) per spec "Heart-beating"; 0 = none.

    The client says "cx,cy": it can send every cx ms and wants to receive every cy.
    """
    if header is None:
        return 0, 0
    try:
        cx_text, cy_text = header.split(",")
        cx, cy = int(cx_text), int(cy_text)
    except ValueError:
        raise FrameRefused(f"invalid heart-beat header {header!r}") from None
    if cx < 0 or cy < 0:
        raise FrameRefused(f"invalid heart-beat header {header!r}")
    outgoing = 0 if send_ms == 0 or cy == 0 else max(send_ms, cy)
    incoming = 0 if recv_ms == 0 or cx == 0 else max(recv_ms, cx)
    return outgoing, incoming


def on_connect(session: Session, frame: Frame) -> Any:
    version = negotiate_version(frame.get("accept-version"))
    if version is None:
        raise FrameRefused(
            "unsupported STOMP version",
            f"supported versions are {','.join(SUPPORTED_VERSIONS)}",
            {"version": ",".join(SUPPORTED_VERSIONS)},
        )
    config = session.broker.config
    if version == V1_0:
        beats = (0, 0)
    else:
        beats = negotiate_heartbeat(
            frame.get("heart-beat"), config.heartbeat_send_ms, config.heartbeat_receive_ms
        )
    session.transition(Event.CONNECT)
    return _authenticate(session, frame, version, beats)


async def _authenticate(
    session: Session, frame: Frame, version: str, beats: tuple[int, int]
) -> Any:
    broker = session.broker
    try:
        principal = await broker.authenticator.authenticate(
            _first_wins(frame), session.handshake_token
        )
    except AuthenticationFailed as exc:
        raise FrameRefused(exc.message) from None
    except Unavailable:
        raise FrameRefused("service unavailable, retry") from None
    if session.state is not State.AUTHENTICATING:
        return NO_RECEIPT
    if broker.user_session_count(principal.user_id) >= broker.config.max_connections_per_user:
        raise FrameRefused("too many connections for this user")
    session.principal = principal
    session.version = version
    session.parser.version = version
    session.hb_send = beats[0] / 1000.0
    session.hb_recv = beats[1] / 1000.0
    session.transition(Event.AUTHENTICATED)
    broker.remember_user_session(session)
    config = broker.config
    session.send_frame(
        Frame(
            Command.CONNECTED,
            (
                ("version", version),
                ("heart-beat", f"{config.heartbeat_send_ms},{config.heartbeat_receive_ms}"),
                ("server", config.server_name),
                ("session", session.id),
                ("user-name", principal.username),
            ),
        )
    )
    session.announce()
    return NO_RECEIPT


def on_disconnect(session: Session, frame: Frame) -> Any:
    if session.outcomes:
        return _disconnect_after_sends(session, frame)
    on_disconnect_now(session, frame)
    return NO_RECEIPT


async def _disconnect_after_sends(session: Session, frame: Frame) -> Any:
    """The DISCONNECT receipt promises every earlier frame was handled, so pipelined
    SENDs settle (and send their receipts) first; bounded, like every wait here."""
    deadline = session.broker.loop.time() + DISCONNECT_DRAIN_SECONDS
    while session.outcomes and session.broker.loop.time() < deadline:  # noqa: ASYNC110 - until the send-path rework
        await asyncio.sleep(0.005)
    if session.is_open:
        on_disconnect_now(session, frame)
    return NO_RECEIPT


def on_disconnect_now(session: Session, frame: Frame) -> None:
    receipt = frame.get("receipt")
    if receipt is not None:
        session.send_receipt(receipt)
    session.transition(Event.DISCONNECT)
    session.close_after_flush()


# ------------------------------------------------------------ subscriptions


def on_subscribe(session: Session, frame: Frame) -> Any:
    destination = _require(frame, "destination")
    sub_id = frame.get("id")
    if sub_id is None:
        if session.version != V1_0:
            raise FrameRefused("missing id header in SUBSCRIBE")
        sub_id = destination
    if sub_id in session.subs:
        raise FrameRefused(f"subscription id {sub_id!r} already in use")
    if len(session.subs) >= session.broker.config.max_subscriptions:
        raise FrameRefused("too many subscriptions")
    try:
        ack_mode = AckMode(frame.get("ack", "auto"))
    except ValueError:
        raise FrameRefused(f"invalid ack mode {frame.get('ack')!r}") from None
    assert session.principal is not None
    try:
        route = session.broker.rules.for_subscribe(destination, session.principal)
    except DestinationRefused as exc:
        raise FrameRefused(exc.message) from None
    since_text = frame.get("x-since-seq")
    since: int | None = None
    if since_text is not None:
        try:
            since = int(since_text)
        except ValueError:
            raise FrameRefused(f"invalid x-since-seq {since_text!r}") from None
    if route.handler is None:
        _register(session, sub_id, route, ack_mode)
        return None
    return _subscribe_handled(session, route.handler, sub_id, route, ack_mode, since)


def _register(session: Session, sub_id: str, route: Route, ack_mode: AckMode) -> Subscription:
    sub = Subscription(
        session, sub_id, route.destination, route.kind, ack_mode,
        session.subscription_prefix(sub_id),
    )
    session.subs[sub_id] = sub
    session.broker.router.add(sub)
    return sub


async def _subscribe_handled(
    session: Session, handler: DestinationHandler, sub_id: str, route: Route,
    ack_mode: AckMode, since: int | None,
) -> Any:
    principal = session.principal
    assert principal is not None
    try:
        await handler.authorize_subscribe(principal, route.destination)
    except (Refusal, AuthenticationFailed, DestinationRefused) as exc:
        raise FrameRefused(f"forbidden: {exc.message}") from None
    except Unavailable:
        raise FrameRefused("service unavailable, retry") from None
    if not session.is_open:
        return NO_RECEIPT
    if sub_id in session.subs:
        raise FrameRefused(f"subscription id {sub_id!r} already in use")
    sub = _register(session, sub_id, route, ack_mode)
    if since is None:
        return None
    # Replay (DESIGN.md): live messages wait in sub.buffer while the stored ones
    # are fetched; then sub.floor (the highest seq replayed) filters the buffer
    # and every later live message, so a row committed before the query but
    # published after the buffer was flushed is not delivered twice.
    sub.buffer = []
    try:
        stored = await handler.replay(principal, route.destination, since)
    except Refusal as exc:
        unsubscribe(session, sub)
        raise FrameRefused(f"replay refused: {exc.message}") from None
    except Unavailable:
        unsubscribe(session, sub)
        raise FrameRefused("service unavailable, retry") from None
    except BaseException:
        unsubscribe(session, sub)
        raise
    last = since
    node = session.broker.node_id
    for headers, body in stored:
        if not sub.active or not session.is_open:
            return NO_RECEIPT
        message = Message(route.destination, tuple(headers.items()), body, node)
        session.emit(sub, message, False)
        if message.seq is not None and message.seq > last:
            last = message.seq
    sub.floor = last
    live, sub.buffer = sub.buffer, None
    for message in live:
        if message.seq is not None and message.seq <= last:
            continue
        session.emit(sub, message, False)
    return None


def unsubscribe(session: Session, sub: Subscription) -> None:
    session.subs.pop(sub.id, None)
    if sub.unacked and session.acks:
        for ack_id in sub.unacked:
            session.acks.pop(ack_id, None)
    session.broker.router.remove(sub)


def on_unsubscribe(session: Session, frame: Frame) -> Any:
    sub_id = frame.get("id")
    if sub_id is None:
        if session.version != V1_0:
            raise FrameRefused("missing id header in UNSUBSCRIBE")
        sub_id = _require(frame, "destination")
    sub = session.subs.get(sub_id)
    if sub is not None:
        unsubscribe(session, sub)
    return None


# ------------------------------------------------------------------- SEND


def on_send(session: Session, frame: Frame) -> Any:
    destination = _require(frame, "destination")
    assert session.principal is not None
    try:
        route = session.broker.rules.for_send(destination, session.principal)
    except DestinationRefused as exc:
        raise FrameRefused(exc.message) from None
    transaction = frame.get("transaction")
    if transaction is not None:
        _hold(session, transaction, frame)
        return None
    return _perform_send(session, frame, route)


def _perform_send(session: Session, frame: Frame, route: Route) -> Any:
    broker = session.broker
    broker.stats.messages_in += 1
    if route.handler is not None:
        begin = getattr(route.handler, "begin_send", None)
        if begin is not None:
            return _pipelined_send(session, frame, begin, route.destination)
        return _handled_send(session, frame, route.handler, route.destination)
    headers = tuple([h for h in frame.headers if h[0] not in STRIPPED_SEND_HEADERS])
    try:
        broker.publish_local(route.kind, route.destination, headers, frame.body, forward=True)
    except QueueFull as exc:
        raise FrameRefused(str(exc)) from None
    if broker.congested:
        broker.throttle(session)
    return None


MAX_SENDS_IN_FLIGHT = 256
DISCONNECT_DRAIN_SECONDS = 10.0
"""Handled SENDs of one session awaiting their commit; past it the session waits."""


def _pipelined_send(
    session: Session, frame: Frame, begin: Callable[..., Any], destination: str
) -> Any:
    """A handler that can queue a SEND at once (`begin_send`, returning a Future of
    the RECEIPT headers) lets the session read on while the message is stored: the
    handler's queue keeps the frames' order (so their seqs), and the group commit
    gets whole windows to batch. Outcomes (RECEIPT or refusal) still go out in the
    order of the frames: each waits in `session.outcomes` until those before it are
    out. At most MAX_SENDS_IN_FLIGHT per session; past it the session stops reading
    frames until the oldest settles."""
    if session.sends_in_flight >= MAX_SENDS_IN_FLIGHT:
        return _pipelined_when_room(session, frame, begin, destination)
    receipt = frame.get("receipt")
    try:
        pending = begin(session.principal, destination, _first_wins(frame), frame.body)
    except Refusal as exc:
        if not session.outcomes:
            business_refusal(session, exc, receipt)
        else:
            # bind the error now: `exc` is unbound when the except block ends
            session.outcomes.append([functools.partial(business_refusal, session, exc, receipt)])
        return NO_RECEIPT
    session.sends_in_flight += 1
    slot: list[Any] = []
    session.outcomes.append(slot)

    def settle(done: Any) -> None:
        session.sends_in_flight -= 1
        if done.cancelled():
            slot.append(lambda: None)
        elif isinstance(exc := done.exception(), Refusal):
            slot.append(lambda: business_refusal(session, exc, receipt))
        elif exc is not None:
            log.error("session %s: handled SEND failed", session.id, exc_info=exc)
            slot.append(lambda: session.fail("internal error", frame))
        elif receipt is not None:
            headers = dict(done.result() or {})
            slot.append(lambda: session.send_receipt(receipt, headers))
        else:
            slot.append(lambda: None)
        outcomes = session.outcomes
        while outcomes and outcomes[0]:
            emit = outcomes.popleft()[0]
            if session.is_open:
                emit()

    pending.add_done_callback(settle)
    return NO_RECEIPT


async def _pipelined_when_room(
    session: Session, frame: Frame, begin: Callable[..., Any], destination: str
) -> Any:
    deadline = session.broker.loop.time() + DISCONNECT_DRAIN_SECONDS
    while session.sends_in_flight >= MAX_SENDS_IN_FLIGHT:
        if session.broker.loop.time() > deadline or not session.is_open:
            raise FrameRefused("too many SENDs awaiting storage")
        await asyncio.sleep(0.001)
    return _pipelined_send(session, frame, begin, destination)


async def _handled_send(
    session: Session, frame: Frame, handler: DestinationHandler, destination: str
) -> Any:
    principal = session.principal
    assert principal is not None
    try:
        extra = await handler.on_send(principal, destination, _first_wins(frame), frame.body)
    except Refusal as exc:
        business_refusal(session, exc, frame.get("receipt"))
        return NO_RECEIPT
    return dict(extra) if extra else None


def business_refusal(session: Session, exc: Refusal, receipt: str | None) -> None:
    """Tell the session on its /user/queue/errors subscription; keep it open."""
    if session.principal is None:
        return
    target = errors_destination(session.principal.user_id)
    body = json.dumps({"code": exc.code, "message": exc.message, "receipt": receipt}).encode()
    headers = [("code", str(exc.code)), ("content-type", "application/json")]
    if receipt is not None:
        headers.append(("receipt-id", receipt))
    message = Message(target, tuple(headers), body, session.broker.node_id)
    delivered = False
    for sub in list(session.subs.values()):
        if sub.destination == target:
            session.deliver(sub, message, False)
            delivered = True
    if not delivered:
        log.info("session %s: refusal %s not delivered (no errors subscription)",
                 session.id, exc.code)


# -------------------------------------------------------------- ACK / NACK


def _find_ack(session: Session, frame: Frame) -> tuple[Subscription, str]:
    """Locate an unacked delivery: `id` in 1.2, `message-id` (+ `subscription`) before."""
    if session.version == V1_2:
        ack_id = _require(frame, "id")
        sub = session.acks.get(ack_id) if session.acks else None
        if sub is None or not sub.unacked or ack_id not in sub.unacked:
            raise FrameRefused(f"unknown ack id {ack_id!r}")
        return sub, ack_id
    message_id = _require(frame, "message-id").encode()
    sub_id = frame.get("subscription")
    if sub_id is not None:
        candidates = [session.subs[sub_id]] if sub_id in session.subs else []
    else:
        candidates = list(session.subs.values())
    for sub in candidates:
        if not sub.by_mid or not sub.unacked:
            continue
        found = sub.by_mid.get(message_id)
        if found is not None and found in sub.unacked:
            return sub, found
    raise FrameRefused(f"unknown message-id {message_id.decode()!r}")


def _apply_ack(session: Session, sub: Subscription, ack_id: str, nack: bool) -> None:
    assert sub.unacked is not None and sub.by_mid is not None and session.acks is not None
    if sub.ack_mode is AckMode.CLIENT:
        keys = []
        for key in sub.unacked:   # delivery order: cumulative up to ack_id
            keys.append(key)
            if key == ack_id:
                break
    else:
        keys = [ack_id]
    messages = []
    for key in keys:
        message, _ = sub.unacked.pop(key)
        sub.by_mid.pop(message.message_id, None)
        session.acks.pop(key, None)
        messages.append(message)
    if nack and sub.kind is Kind.QUEUE and sub.active:
        session.broker.router.requeue(sub, messages, avoid=sub)


def _on_ack_or_nack(session: Session, frame: Frame, nack: bool) -> Any:
    sub, ack_id = _find_ack(session, frame)
    transaction = frame.get("transaction")
    if transaction is not None:
        _hold(session, transaction, frame)
        return None
    _apply_ack(session, sub, ack_id, nack)
    return None


def on_ack(session: Session, frame: Frame) -> Any:
    return _on_ack_or_nack(session, frame, nack=False)


def on_nack(session: Session, frame: Frame) -> Any:
    return _on_ack_or_nack(session, frame, nack=True)


# ------------------------------------------------------------ transactions


def _hold(session: Session, transaction: str, frame: Frame) -> None:
    held = session.transactions.get(transaction) if session.transactions else None
    if held is None:
        raise FrameRefused(f"unknown transaction {transaction!r}")
    if len(held) >= session.broker.max_transaction_frames:
        raise FrameRefused(f"transaction {transaction!r} holds too many frames")
    held.append(frame)


def on_begin(session: Session, frame: Frame) -> Any:
    transaction = _require(frame, "transaction")
    if session.transactions is None:
        session.transactions = {}    # created on first use: most sessions never BEGIN
    if transaction in session.transactions:
        raise FrameRefused(f"transaction {transaction!r} already begun")
    session.transactions[transaction] = []
    return None


def on_abort(session: Session, frame: Frame) -> Any:
    transaction = _require(frame, "transaction")
    if not session.transactions or session.transactions.pop(transaction, None) is None:
        raise FrameRefused(f"unknown transaction {transaction!r}")
    return None


def on_commit(session: Session, frame: Frame) -> Any:
    transaction = _require(frame, "transaction")
    held = session.transactions.pop(transaction, None) if session.transactions else None
    if held is None:
        raise FrameRefused(f"unknown transaction {transaction!r}")
    for index, item in enumerate(held):
        pending = _replay_held(session, item)
        if pending is not None:
            return _commit_rest(session, pending, held[index + 1:])
    return None


def _replay_held(session: Session, frame: Frame) -> Any:
    """Apply one held frame; a coroutine when it needs a DestinationHandler."""
    if frame.command is Command.SEND:
        assert session.principal is not None
        try:
            route = session.broker.rules.for_send(_require(frame, "destination"), session.principal)
        except DestinationRefused as exc:
            raise FrameRefused(exc.message) from None
        result = _perform_send(session, frame, route)
        return result if result is not None and result is not NO_RECEIPT else None
    try:
        sub, ack_id = _find_ack(session, frame)
    except FrameRefused:
        return None   # already covered by an earlier cumulative ACK, or consumer gone
    _apply_ack(session, sub, ack_id, frame.command is Command.NACK)
    return None


async def _commit_rest(session: Session, pending: Any, rest: list[Frame]) -> Any:
    await pending
    for frame in rest:
        if not session.is_open:
            return NO_RECEIPT
        result = _replay_held(session, frame)
        if result is not None:
            await result
    return None


HANDLERS: dict[Command, Callable[[Session, Frame], Any]] = {
    Command.CONNECT: on_connect,
    Command.STOMP: on_connect,
    Command.DISCONNECT: on_disconnect,
    Command.SUBSCRIBE: on_subscribe,
    Command.UNSUBSCRIBE: on_unsubscribe,
    Command.SEND: on_send,
    Command.ACK: on_ack,
    Command.NACK: on_nack,
    Command.BEGIN: on_begin,
    Command.COMMIT: on_commit,
    Command.ABORT: on_abort,
}

