"""The sans-I/O STOMP session: its state, its output and its frame loop.

`SessionCore` is what the command handlers (connect, subscribe, send, transactions)
work on; `stompim.broker.session.Session` adds the dispatch table and the methods the
broker calls.  Nothing here touches a socket, an event loop or a clock: bytes come in
through `Session.receive_data`, frames go out through `data_to_send()`, decisions that
need the world go out as events (stompim.broker.events), and time comes in as an
argument (`Session.tick(now)`).

Theory of operation
-------------------
State: `state` follows the table of stompim.broker.states; while CONNECTED, `hold`
says why frames wait (a SUBSCRIBE being authorized, too many SENDs in flight, a
throttle).  Frames that cannot be read yet wait in `backlog`, in order.

Answers: every frame that asked for a receipt gets exactly one answer, in frame order.
Most frames are answered while they are processed; a frame whose outcome comes later
(a SEND to a DestinationHandler, a SUBSCRIBE with a handler) reserves its place in
`answers` with a token, and answers that come after it queue behind it until it is
settled.  While nothing is owed, an answer is written at once (no allocation).

Output: frames are rendered to bytes at once and appended to `out`; the first frame
after a flush calls `wake()`, so the broker flushes every session that has output
once per event-loop turn.  Bytes not yet written plus the transport's own buffer are
the session's pending bytes: above the soft limit it counts as congested (a publisher
writing into it is throttled; staying there `slow_consumer_ms` drops it), above the
hard limit (`max_pending_bytes`) it is dropped at once.

Call order for the owner: construct, then any of the input methods; after each call,
act on `events()`; flush `data_to_send()` whenever `wake` was called.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from stompim.errors import (
    INTERNAL_ERROR_MESSAGE,
    Refusal,
    RemoteProtocolError,
    Unavailable,
    send_refusal,
)
from stompim.frames import V1_0, V1_2, Command, Frame, FrameParser, encode
from stompim.logs import session_fields

from .auth import Principal
from .context import MAX_BACKLOG, SessionContext
from .destinations import Kind, errors_destination
from .errors import FrameRefused, TransactionAborted
from .events import Close, FillGap, PauseReading, ResumeReading, SessionEvent
from .message import Message, escape_value, unacked_size
from .records import PENDING, Answer, Finale, OpenTransactions, PendingSubscribe
from .router import AckMode, Replay, Subscription
from .states import ALLOWED, INPUT, Hold, Input, State, Trigger, next_state

__all__ = ["OWN_ANSWER", "Handler", "SessionCore"]

log = logging.getLogger(__name__)

OWN_ANSWER: Any = object()
"""Handler result: "this handler answers the receipt itself (or has none to give)"."""

Handler = Callable[["SessionCore", Frame], Any]


class SessionCore:
    handlers: ClassVar[Mapping[Command, Handler]] = {}

    __slots__ = (
        "ack_counter", "acks", "answers", "backlog", "congested_since", "connecting",
        "created", "ctx", "deadline", "dirty", "finale", "handshake_token", "hb_recv",
        "hb_send", "hold", "id", "last_rx", "last_tx", "link_buffered", "out", "out_bytes",
        "parse_failed", "parser", "pending", "principal", "queued_events", "replays", "sends",
        "sent", "state", "subs", "subscribing", "tokens", "transactions", "unacked_bytes",
        "version", "wake", "websocket",
    )

    def __init__(
        self,
        session_id: str,
        ctx: SessionContext,
        wake: Callable[[], None],
        now: float,
        *,
        handshake_token: str | None = None,
        websocket: bool = False,
    ) -> None:
        self.id = session_id
        self.ctx = ctx
        self.wake = wake
        self.handshake_token = handshake_token
        self.websocket = websocket
        self.state = State.AWAITING_CONNECT
        self.hold: Hold | None = None
        self.parser = FrameParser(ctx.limits)
        self.parse_failed = False
        self.version = V1_2
        self.principal: Principal | None = None
        self.connecting: tuple[Frame, str, tuple[int, int]] | None = None  # AUTHENTICATING
        self.subs: dict[str, Subscription] = {}
        self.subscribing: PendingSubscribe | None = None  # Hold.SUBSCRIBE
        self.acks: dict[str, Subscription] | None = None  # client ack modes only
        self.unacked_bytes = 0   # of topic MESSAGEs in `acks` (stomp.max_unacked_bytes)
        self.ack_counter = 0
        self.transactions: OpenTransactions | None = None  # after a BEGIN
        self.replays: list[Subscription] | None = None  # subscriptions de-duplicating
        self.backlog: deque[Frame | RemoteProtocolError] | None = None
        self.answers: deque[Answer] | None = None  # while some answer is owed
        self.pending: dict[int, Answer] | None = None  # token -> its place in answers
        self.tokens = 0
        self.sends = 0  # handled SENDs in flight
        self.finale: Finale | None = None  # DRAINING: how it ends
        self.deadline: float | None = None  # DRAINING: set by the first tick
        self.out: list[tuple[bytes, bool]] = []
        self.out_bytes = 0
        self.link_buffered = 0
        self.dirty = False
        self.sent = False  # output since the last tick (heart-beat timing)
        self.congested_since: float | None = None
        self.created = now
        self.last_rx = now
        self.last_tx = now
        self.hb_send = 0.0  # seconds between our heart-beats (0 = none)
        self.hb_recv = 0.0  # seconds the client promised between its beats
        self.queued_events: list[SessionEvent] | None = None  # not taken by events() yet

    # ------------------------------------------------------------------ state

    @property
    def is_open(self) -> bool:
        return self.state is State.CONNECTED

    @property
    def pending_bytes(self) -> int:
        return self.out_bytes + self.link_buffered

    @property
    def congested(self) -> bool:
        """Above the soft limit of pending bytes (a shared queue reads no more for it)."""
        return self.out_bytes + self.link_buffered > self.ctx.soft_pending

    def transition(self, trigger: Trigger) -> None:
        self.state = next_state(self.state, trigger)

    # ----------------------------------------------------------------- events

    def emit_event(self, event: SessionEvent) -> None:
        if self.queued_events is None:
            self.queued_events = [event]
        else:
            self.queued_events.append(event)

    def events(self) -> Sequence[SessionEvent]:
        """The events made since the last call, in order (handed over)."""
        events = self.queued_events
        if events is None:
            return ()
        self.queued_events = None
        return events

    def set_hold(self, hold: Hold) -> None:
        """Stop reading frames (and the transport) until `release_hold` (a session
        already holding keeps its first reason: no frame is read either way)."""
        if self.hold is None:
            self.hold = hold
            self.emit_event(PauseReading(throttle=hold is Hold.THROTTLE))

    def release_hold(self, hold: Hold) -> None:
        """End `hold` (if it is the current one) and go on with the waiting frames."""
        if self.hold is not hold:
            return
        self.hold = None
        if self.state is State.CONNECTED:
            self.emit_event(ResumeReading())
            self.run_backlog()

    # ------------------------------------------------------------------ input

    def run_frames(self, items: deque[Frame | RemoteProtocolError]) -> None:
        """Dispatch in order; stop where the state or a hold says frames must wait
        (they go to `backlog`) or be dropped."""
        while items:
            state = self.state
            if state is not State.CONNECTED or self.hold is not None:
                mode = INPUT[state]
                if mode is Input.IGNORE:
                    return
                if mode is Input.HOLD or self.hold is not None:
                    self.backlog = items
                    if len(items) > MAX_BACKLOG:
                        self.backlog = None
                        self.fail("too many frames waiting to be processed")
                    return
            item = items.popleft()
            if isinstance(item, RemoteProtocolError):
                self.fail(item.message)
                return
            self.dispatch(item)

    def run_backlog(self) -> None:
        items, self.backlog = self.backlog, None
        if items:
            self.run_frames(items)

    def dispatch(self, frame: Frame) -> None:
        """Run one frame's handler (if ALLOWED here), then answer its receipt unless
        the handler took that on."""
        command = frame.command
        self.ctx.stats.frames_in[command] += 1
        if self.version != V1_2 and not self._receipt_answerable(frame):
            return
        if command not in ALLOWED[self.state]:
            self._refuse_command(frame)
            return
        try:
            result = self.handlers[command](self, frame)
        except FrameRefused as exc:
            self.fail(exc.message, frame.get("receipt"), exc.body, exc.headers)
            return
        except RemoteProtocolError as exc:
            self.fail(exc.message, frame.get("receipt"))
            return
        except Exception:
            log.exception("session %s: %s handler failed", self.id, command.value)
            self.fail(INTERNAL_ERROR_MESSAGE, frame.get("receipt"))
            return
        if result is not OWN_ANSWER and self.state is State.CONNECTED:
            receipt = frame.get("receipt")
            if receipt is not None:
                self.answer(receipt, result)

    def _receipt_answerable(self, frame: Frame) -> bool:
        """STOMP 1.0 and 1.1 cannot write every value back: 1.0 escapes nothing (a
        value with a newline), neither escapes CR (a value ending in CR would merge
        with the EOL).  A receipt we could not echo is refused (ERROR without it,
        close) before the frame does anything."""
        receipt = frame.get("receipt")
        if receipt is None or not (
            receipt.endswith("\r") or (self.version == V1_0 and "\n" in receipt)
        ):
            return True
        self.fail(f"receipt header cannot be answered in STOMP {self.version}")
        return False

    def _refuse_command(self, frame: Frame) -> None:
        receipt = frame.get("receipt")
        if self.state is State.AWAITING_CONNECT:
            self.fail(f"expected CONNECT, got {frame.command.value}", receipt)
        elif frame.command in (Command.CONNECT, Command.STOMP):
            self.fail("already connected", receipt)
        else:
            self.fail(f"unexpected command {frame.command.value}", receipt)

    # ---------------------------------------------------------------- answers

    def answer(self, receipt: str, headers: Mapping[str, str] | None = None) -> None:
        """RECEIPT for `receipt` now, or after the answers still owed before it."""
        if not self.answers:
            self.enqueue(self.receipt_bytes(receipt, headers))
        else:
            self.answers.append(Answer(receipt, headers or {}))

    def answer_refusal(self, receipt: str | None, error: Refusal | Unavailable) -> None:
        """A refusal for `receipt` now, or after the answers still owed before it."""
        if not self.answers:
            self.refused(error, receipt)
        else:
            self.answers.append(Answer(receipt, error))

    def reserve(self, receipt: str | None) -> int:
        """A place in the answers for an outcome that comes later; its token."""
        self.tokens += 1
        token = self.tokens
        answer = Answer(receipt)
        if self.answers is None:
            self.answers = deque()
        self.answers.append(answer)
        if self.pending is None:
            self.pending = {}
        self.pending[token] = answer
        return token

    def settle(self, token: int, outcome: Any) -> bool:
        """Fill in the reserved place `token`; the answers now complete go out.
        False if the token is not owed (the session closed, or it was settled)."""
        answer = self.pending.pop(token, None) if self.pending else None
        if answer is None:
            return False
        answer.outcome = outcome
        answers = self.answers
        while answers and answers[0].outcome is not PENDING:
            self._render(answers.popleft())
        if not answers and self.state is State.DRAINING:
            self.finish_drain()
        return True

    def _render(self, answer: Answer) -> None:
        outcome = answer.outcome
        if self.state is State.CLOSING or self.state is State.CLOSED:
            return
        if isinstance(outcome, Refusal | Unavailable):
            self.refused(outcome, answer.receipt)
        elif isinstance(outcome, FrameRefused):   # e.g. a full shared queue: as at once
            self.fail(outcome.message, answer.receipt, outcome.body, outcome.headers)
        elif answer.receipt is not None:
            self.enqueue(self.receipt_bytes(answer.receipt, outcome))

    def refused(self, error: Refusal | Unavailable, receipt: str | None) -> None:
        """A refused SEND: a MESSAGE on the user's /user/queue/errors subscriptions
        (not for an aborted transaction: the client chose that), then the refusal
        RECEIPT (x-error-code, x-error-message; no message-id)."""
        code, message = send_refusal(error)
        refusals = self.ctx.stats.refusals
        refusals[code] = refusals.get(code, 0) + 1
        if not isinstance(error, TransactionAborted):
            self._tell_errors_queue(code, message, receipt)
        if receipt is not None:
            text = message.replace("\r", " ").replace("\n", " ")
            self.enqueue(self.receipt_bytes(
                receipt, {"x-error-code": str(code), "x-error-message": text}))

    def _tell_errors_queue(self, code: int, message: str, receipt: str | None) -> None:
        if self.principal is None:
            return
        target = errors_destination(self.principal.user_id)
        body = json.dumps({"code": code, "message": message, "receipt": receipt}).encode()
        headers = [("code", str(code)), ("content-type", "application/json")]
        if receipt is not None:
            headers.append(("receipt-id", receipt))
        notice = Message(target, tuple(headers), body, self.ctx.exchange.node_id)
        delivered = False
        for sub in self.subs.values():
            if sub.destination == target:
                self.deliver(sub, notice, False)
                delivered = True
        if not delivered:   # the refusal RECEIPT (if asked for) still tells the client
            log.debug("session %s: refusal %s not delivered (no errors subscription)",
                      self.id, code)

    def receipt_bytes(self, receipt: str, headers: Mapping[str, str] | None = None) -> bytes:
        self.ctx.stats.receipts_out += 1
        pairs = [("receipt-id", receipt)]
        if headers:
            pairs.extend((str(k), str(v)) for k, v in headers.items())
        return encode(Frame(Command.RECEIPT, tuple(pairs)), self.version)

    # ----------------------------------------------------------------- output

    def enqueue(self, data: bytes, text: bool = True) -> int:
        """Buffer one frame; the owner flushes it at the end of this loop turn.  The
        pending bytes after it (past the hard limit: the session is dropped)."""
        self.out.append((data, text))
        out_bytes = self.out_bytes = self.out_bytes + len(data)
        pending = out_bytes + self.link_buffered
        if pending > self.ctx.hard_pending:
            self.kill("slow consumer: too many pending bytes", "pending_bytes")
            return 0
        if not self.dirty:
            self.dirty = True
            self.wake()
        return pending

    def send_frame(self, frame: Frame) -> None:
        self.enqueue(encode(frame, self.version))

    def data_to_send(self) -> list[tuple[bytes, bool]]:
        """The frames to write, in order (the list is handed over); then clean."""
        out = self.out
        self.dirty = False
        if not out:
            return out
        self.ctx.stats.bytes_out += self.out_bytes
        self.out = []
        self.out_bytes = 0
        self.sent = True
        return out

    def transport_buffered(self, size: int) -> None:
        """The transport's write buffer now holds `size` bytes (after a write, or when
        it drained)."""
        self.link_buffered = size
        if size > self.ctx.hard_pending and self.state is not State.CLOSED:
            self.kill("slow consumer: too many pending bytes", "pending_bytes")

    def deliver(self, sub: Subscription, message: Message, redelivered: bool) -> bool:
        """Router callback: one MESSAGE for `sub`; True when this session is congested."""
        if self.state is not State.CONNECTED:
            return False
        replay = sub.replay
        if replay is not None:
            if replay.buffer is not None:
                replay.buffer.append(message)
                return False
            if message.message_id in replay.ids:
                return False  # the replay sent it already
        if sub.cursor is not None and not self.in_order(sub, message):
            return False
        if redelivered or sub.ack_mode is not AckMode.AUTO:
            return self.emit(sub, message, redelivered) > self.ctx.soft_pending
        # the common case, inlined: shared tail spliced after the subscription prefix
        tail = message._tails.get(self.version)
        if tail is None:
            tail = message.tail(self.version)
        ctx = self.ctx
        ctx.stats.messages_out += 1
        text = message._text is True if self.websocket else True
        return self.enqueue(sub.prefix + tail, text) > ctx.soft_pending

    def in_order(self, sub: Subscription, message: Message) -> bool:
        """An ordered stream (`sub.cursor` set, see DestinationHandler.ordered): True
        when `message` is the next one (or has no seq) and may go out now.  One at or
        below the cursor was delivered already; one past the next opens a hole: it
        waits in `sub.replay` while the handler is asked for what lies between
        (`FillGap`, answered by `gap_filled`)."""
        seq = message.seq
        if seq is None:
            return True
        cursor = sub.cursor
        assert cursor is not None
        if seq <= cursor:
            return False
        if seq == cursor + 1:
            sub.cursor = seq
            return True
        replay = sub.replay = Replay()
        replay.buffer = [message]
        assert self.principal is not None
        self.emit_event(FillGap(sub, self.principal, cursor))
        self.wake()
        return False

    def emit(self, sub: Subscription, message: Message, redelivered: bool) -> int:
        """One MESSAGE for `sub` with its ack header (client ack modes); the pending
        bytes after it."""
        ack_header = None
        if sub.ack_mode is not AckMode.AUTO:
            self.ack_counter += 1
            ack_id = str(self.ack_counter)
            assert sub.unacked is not None and sub.by_mid is not None
            sub.unacked[ack_id] = (message, redelivered)
            sub.by_mid[message.message_id] = ack_id
            if self.acks is None:
                self.acks = {}
            self.acks[ack_id] = sub
            if self.version == V1_2:
                ack_header = ack_id
            if sub.kind is not Kind.QUEUE:   # a queue's are in its own budget (router)
                self.unacked_bytes += unacked_size(message)
                if self.unacked_bytes > self.ctx.config.max_unacked_bytes:
                    drops = self.ctx.stats.slow_consumer_drops
                    drops["unacked_bytes"] = drops.get("unacked_bytes", 0) + 1
                    self.fail("too many unacknowledged bytes "
                              f"(at most {self.ctx.config.max_unacked_bytes})")
                    return 0
        data = message.render(sub.prefix, self.version, ack_header, redelivered)
        self.ctx.stats.messages_out += 1
        return self.enqueue(data, message.is_text if self.websocket else True)

    def subscription_prefix(self, sub_id: str) -> bytes:
        escaped = escape_value(sub_id, self.version).encode()
        return b"MESSAGE\nsubscription:" + escaped + b"\nmessage-id:"

    # ---------------------------------------------------------------- closing

    def begin_drain(self, trigger: Trigger, finale: Finale) -> None:
        """CONNECTED -> DRAINING (DISCONNECT or shutdown): read nothing more, deliver
        nothing more (subscriptions go back), end with `finale` once nothing is owed
        (at once if nothing is)."""
        self.transition(trigger)
        if self.finale is None:
            self.finale = finale
        self.backlog = None
        self.hold = None
        self.release()
        if not self.answers:
            self.finish_drain()

    def finish_drain(self) -> None:
        """The last frame of a drained session: its DISCONNECT RECEIPT, or ERROR."""
        finale = self.finale
        assert finale is not None
        if finale.error is not None:
            self.fail(finale.error)
            return
        self.transition(Trigger.SETTLED)
        if finale.receipt is not None:
            self.enqueue(self.receipt_bytes(finale.receipt))
        self.close()

    def fail(
        self,
        message: str,
        receipt: str | None = None,
        body: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send ERROR, then close: the answers still owed are dropped and the sends in
        flight withdrawn.  Other sessions are unaffected."""
        if self.state is State.CLOSING or self.state is State.CLOSED:
            return
        message = message.replace("\r", " ").replace("\n", " ")
        pairs = [("message", message)]
        if receipt is not None:
            pairs.append(("receipt-id", receipt))
        if headers:
            pairs.extend(headers.items())
        pairs.append(("content-type", "text/plain"))
        self.transition(Trigger.FAIL)
        self.answers = None
        self.pending = None
        self.ctx.stats.error_sent(message)
        self.send_frame(Frame(Command.ERROR, tuple(pairs), (body or message).encode()))
        self.close()

    def kill(self, reason: str, cause: str) -> None:
        """Drop the connection without flushing (slow consumer); `cause` names the
        limit passed for /metrics (stompim_stomp_slow_consumer_drops_total)."""
        if self.state is State.CLOSED:
            return
        drops = self.ctx.stats.slow_consumer_drops
        drops[cause] = drops.get(cause, 0) + 1
        log.info("session %s closed: %s", self.id, reason, extra=session_fields(self))
        if self.state is not State.CLOSING:
            self.transition(Trigger.FAIL)
        self.out = []
        self.out_bytes = 0
        self.answers = None
        self.pending = None
        self.release()
        self.emit_event(Close(abort=True))
        if not self.dirty:
            self.dirty = True
            self.wake()

    def close(self) -> None:
        """CLOSING: release everything and ask the owner to flush and close."""
        self.release()
        self.emit_event(Close())
        if not self.dirty:
            self.dirty = True
            self.wake()

    def release(self) -> None:
        """Give back subscriptions (unacked queue messages are requeued) and drop open
        transactions, waiting frames and the partial frame read.  Idempotent."""
        self.transactions = None
        self.backlog = None
        self.parser.discard()
        self.replays = None
        if self.subs:
            subs = list(self.subs.values())
            self.subs.clear()
            self.acks = None
            router = self.ctx.exchange.router
            for sub in subs:
                router.remove(sub)

    def unsubscribe(self, sub: Subscription) -> None:
        self.subs.pop(sub.id, None)
        if sub.unacked and self.acks:
            for ack_id in sub.unacked:
                self.acks.pop(ack_id, None)
            if sub.kind is not Kind.QUEUE:
                self.unacked_bytes -= sum([unacked_size(m) for m, _ in sub.unacked.values()])
        if self.replays and sub in self.replays:
            self.replays.remove(sub)
        self.ctx.exchange.router.remove(sub)
