"""ACK / NACK, and transactions (BEGIN / COMMIT / ABORT).

ACK and NACK name a delivery by `id` (1.2) or `message-id` (+ `subscription`, 1.0 and
1.1).  In `client` mode an ACK is cumulative; NACK of a queue message puts it back for
another consumer.

A transaction holds SEND and ACK/NACK frames until COMMIT applies them in order, or
ABORT drops them (spec "BEGIN").  A held generic SEND is acknowledged when held; a held
SEND to a DestinationHandler is answered only after COMMIT stored it (RECEIPT, or a
refusal), and all of those before the COMMIT's own RECEIPT, which therefore means
"everything in this transaction is answered".  A refused message does not stop the
others.  ABORT (and DISCONNECT with the transaction still open) answers each held
handled SEND with a refusal: nothing of it is stored.  Limits (config): open
transactions per session, frames per transaction, bytes held per session; a breach is
ERROR and close.
"""

from __future__ import annotations

from typing import Any

from stompim.frames import V1_2, Command, Frame

from .core import SessionCore
from .destinations import Kind
from .errors import FrameRefused, TransactionAborted
from .events import Acknowledged
from .message import unacked_size
from .records import OpenTransactions, require
from .router import AckMode, Subscription
from .send import perform_send

__all__ = ["abort_all", "on_abort", "on_ack", "on_begin", "on_commit", "on_nack"]


# -------------------------------------------------------------- ACK / NACK


def find_ack(session: SessionCore, frame: Frame) -> tuple[Subscription, str]:
    """Locate an unacked delivery: `id` in 1.2, `message-id` (+ `subscription`) before."""
    if session.version == V1_2:
        ack_id = require(frame, "id")
        sub = session.acks.get(ack_id) if session.acks else None
        if sub is None or not sub.unacked or ack_id not in sub.unacked:
            raise FrameRefused(f"unknown ack id {ack_id!r}")
        return sub, ack_id
    message_id = require(frame, "message-id").encode()
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


def apply_ack(session: SessionCore, sub: Subscription, ack_id: str, nack: bool) -> None:
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
    if sub.kind is not Kind.QUEUE:
        session.unacked_bytes -= sum([unacked_size(m) for m in messages])
    else:
        router = session.ctx.exchange.router
        if nack and sub.active:
            router.requeue(sub, messages, avoid=sub)
        else:   # acknowledged (or NACKed by a consumer already gone): no longer held
            router.acknowledged(sub, messages)
    if not nack and session.principal is not None:
        handler = session.ctx.rules.handler_of(sub.destination)
        if handler is not None and hasattr(handler, "acknowledged"):
            session.emit_event(Acknowledged(
                handler, session.principal, sub.destination,
                tuple(dict(m.headers) for m in messages),
            ))


def _on_ack_or_nack(session: SessionCore, frame: Frame, nack: bool) -> Any:
    sub, ack_id = find_ack(session, frame)
    transaction = frame.get("transaction")
    if transaction is not None:
        OpenTransactions.hold(session.transactions, transaction, frame, session.ctx.config)
        return None
    apply_ack(session, sub, ack_id, nack)
    return None


def on_ack(session: SessionCore, frame: Frame) -> Any:
    return _on_ack_or_nack(session, frame, nack=False)


def on_nack(session: SessionCore, frame: Frame) -> Any:
    return _on_ack_or_nack(session, frame, nack=True)


# ------------------------------------------------------------ transactions


def on_begin(session: SessionCore, frame: Frame) -> Any:
    transaction = require(frame, "transaction")
    txs = session.transactions
    if txs is None:
        txs = session.transactions = OpenTransactions()  # most sessions never BEGIN
    if transaction in txs.held:
        raise FrameRefused(f"transaction {transaction!r} already begun")
    if len(txs.held) >= session.ctx.config.max_transactions:
        raise FrameRefused("too many open transactions")
    txs.held[transaction] = []
    return None


def _take(session: SessionCore, transaction: str) -> list[Frame]:
    txs = session.transactions
    if txs is None:
        raise FrameRefused(f"unknown transaction {transaction!r}")
    return txs.take(transaction)


def _answer_aborted(session: SessionCore, transaction: str, held: list[Frame]) -> None:
    """Each held SEND to a handler was not answered when held: answer it now."""
    assert session.principal is not None
    rules = session.ctx.rules
    for frame in held:
        if frame.command is not Command.SEND:
            continue
        route = rules.for_send(require(frame, "destination"), session.principal)
        if route.handler is not None and frame.get("receipt") is not None:
            session.answer_refusal(frame.get("receipt"), TransactionAborted(transaction))


def on_abort(session: SessionCore, frame: Frame) -> Any:
    transaction = require(frame, "transaction")
    _answer_aborted(session, transaction, _take(session, transaction))
    return None


def abort_all(session: SessionCore) -> None:
    """Abort every open transaction (DISCONNECT, shutdown), answering held SENDs."""
    txs = session.transactions
    if txs is None:
        return
    for transaction in list(txs.held):
        _answer_aborted(session, transaction, _take(session, transaction))
    session.transactions = None


def on_commit(session: SessionCore, frame: Frame) -> Any:
    transaction = require(frame, "transaction")
    assert session.principal is not None
    rules = session.ctx.rules
    for item in _take(session, transaction):
        if item.command is Command.SEND:
            route = rules.for_send(require(item, "destination"), session.principal)
            perform_send(session, item, route)
            continue
        try:
            sub, ack_id = find_ack(session, item)
        except FrameRefused:
            continue   # already covered by an earlier cumulative ACK, or consumer gone
        apply_ack(session, sub, ack_id, item.command is Command.NACK)
    return None
