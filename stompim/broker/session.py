"""One STOMP connection: input loop, output buffer, state, timers.

Theory of operation
-------------------
The transport adapter calls `feed(bytes)` for every chunk it receives and
`on_lost()` once when the connection is gone.  `feed` runs the codec and
dispatches each frame through `handlers.HANDLERS` (command -> function), after
checking `states.ALLOWED`.  A handler either finishes synchronously (most frames:
SEND to a generic destination, ACK, SUBSCRIBE...) or returns a coroutine (CONNECT
authentication, a DestinationHandler call).  In the second case the frames that
follow wait in `backlog` and one task processes them in order once the coroutine
is done; an idle or purely synchronous session owns no task at all.

Output: frames are rendered to bytes at once and appended to `out`; the broker
flushes every dirty session once per event-loop turn (`flush`), so a burst of
deliveries costs one transport write.  Bytes not yet written plus the
transport's own write buffer are the session's pending bytes; above
`max_pending_bytes` the session is a slow consumer and is dropped.

Timers: the broker's single sweep calls `tick(now)` on every session (connect
timeout, heart-beats); sessions have no timer of their own.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Coroutine
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Protocol

from stompim.frames import (
    HEARTBEAT,
    V1_2,
    Command,
    Frame,
    FrameParser,
    RemoteProtocolError,
    encode,
)
from stompim.logs import session_fields

from .errors import FrameRefused
from .message import Message, escape_value
from .router import AckMode, Subscription
from .states import ALLOWED, Event, State, next_state

if TYPE_CHECKING:
    from .auth import Principal
    from .broker import Broker

__all__ = ["NO_RECEIPT", "Link", "Session"]

log = logging.getLogger(__name__)

MAX_BACKLOG = 10000
"""Frames that may wait while an asynchronous handler runs; more is a flood."""

NO_RECEIPT: Any = object()
"""Handler result meaning "the handler took care of the receipt (or there is none)"."""


class Link(Protocol):
    """What a session needs from its transport."""

    def write(self, chunks: list[tuple[bytes, bool]]) -> None:
        """Write frames in order; the flag says "valid UTF-8" (WebSocket text)."""

    def buffered(self) -> int:
        """Bytes accepted by write() and not yet sent to the kernel."""

    def close(self) -> None:
        """Close after what was written is sent."""

    def abort(self) -> None:
        """Close now, dropping unsent data."""

    def pause_reading(self) -> None:
        """Stop receiving (a publisher outpacing its consumers)."""

    def resume_reading(self) -> None: ...


class Session:
    __slots__ = (
        "__weakref__",
        "_parse_failed",
        "ack_counter",
        "acks",
        "announced",
        "backlog",
        "broker",
        "busy",
        "created",
        "dirty",
        "handshake_token",
        "hb_recv",
        "hb_send",
        "id",
        "last_rx",
        "last_tx",
        "link",
        "link_buffered",
        "opened_task",
        "out",
        "out_bytes",
        "outcomes",
        "parser",
        "principal",
        "sends_in_flight",
        "state",
        "subs",
        "throttled",
        "transactions",
        "version",
        "websocket",
    )

    def __init__(
        self, broker: Broker, link: Link, session_id: str, *,
        handshake_token: str | None = None, websocket: bool = False,
    ) -> None:
        self.broker = broker
        self.link = link
        self.id = session_id
        self.handshake_token = handshake_token
        self.websocket = websocket
        self.state = State.AWAITING_CONNECT
        self.parser = FrameParser(broker.limits)
        self.version = V1_2
        self.principal: Principal | None = None
        self.subs: dict[str, Subscription] = {}
        self.acks: dict[str, Subscription] | None = None        # client ack modes only
        self.ack_counter = 0
        self.transactions: dict[str, list[Frame]] | None = None  # after a BEGIN
        self.out: list[tuple[bytes, bool]] = []
        self.out_bytes = 0
        self.link_buffered = 0
        self.dirty = False
        now = broker.loop.time()
        self.created = now
        self.last_rx = now
        self.last_tx = now
        self.hb_send = 0.0   # seconds between our heart-beats (0 = none)
        self.hb_recv = 0.0   # seconds the client promised between its beats
        self.backlog: deque[Frame | RemoteProtocolError] | None = None
        self._parse_failed = False
        self.busy = False        # an asynchronous handler is running
        self.sends_in_flight = 0  # pipelined handled SENDs not yet committed
        self.outcomes: deque[list[Any]] = deque()  # their receipts/refusals, frame order
        self.throttled = False   # reading paused by broker flow control
        self.announced = False   # session listeners were told "opened"
        self.opened_task: Any = None

    # ------------------------------------------------------------------ state

    @property
    def is_open(self) -> bool:
        return self.state is State.CONNECTED

    def transition(self, event: Event) -> None:
        self.state = next_state(self.state, event)

    # ------------------------------------------------------------------ input

    def feed(self, data: bytes) -> None:
        """Bytes from the transport, in order. Never raises."""
        if self.state is State.CLOSING or self.state is State.CLOSED:
            return
        self.last_rx = self.broker.loop.time()
        self.broker.stats.bytes_in += len(data)
        frames: list[Any] = self.parser.feed(data)
        error = self.parser.error
        if error is not None and not self._parse_failed:
            self._parse_failed = True
            frames.append(error)
        if not frames:
            return
        if self.backlog is not None:
            self.backlog.extend(frames)
            if self.busy and len(self.backlog) > MAX_BACKLOG:
                self.fail("too many frames waiting to be processed")
            return
        if self.busy or self.throttled:
            self.backlog = deque(frames)
            return
        self._process(deque(frames))

    def _process(self, items: deque[Any]) -> None:
        """Dispatch in order; stop at an asynchronous handler or a throttle and
        keep the rest in `backlog` (invariant: backlog is set only while busy or
        throttled)."""
        while items:
            if self.state is State.CLOSING or self.state is State.CLOSED:
                return
            item = items.popleft()
            if isinstance(item, RemoteProtocolError):
                self.fail(item.message)
                return
            result = self._dispatch(item)
            if type(result) is CoroutineType:
                self.backlog = items
                self.busy = True
                self.broker.spawn(self._run_async(result, item))
                return
            if self.throttled:
                if items:
                    self.backlog = items
                return

    def _resume_backlog(self) -> None:
        if self.busy or self.throttled:
            return
        items, self.backlog = self.backlog, None
        if items and self.state is not State.CLOSING and self.state is not State.CLOSED:
            self._process(items)

    def throttle(self) -> None:
        """Stop reading (broker flow control); frames already read wait in backlog."""
        self.throttled = True
        self.link.pause_reading()

    def unthrottle(self) -> None:
        self.throttled = False
        if self.state is State.CLOSED:
            return
        self.link.resume_reading()
        self._resume_backlog()

    def _dispatch(self, frame: Frame) -> Any:
        """Run one frame's handler; a coroutine result is left to the caller."""
        if frame.command not in ALLOWED[self.state]:
            return self._refuse_command(frame)
        handler = self.broker.handlers[frame.command]
        try:
            result = handler(self, frame)
        except FrameRefused as exc:
            self.fail(exc.message, frame, exc.body, exc.headers)
            return None
        except Exception:
            log.exception("session %s: %s handler failed", self.id, frame.command.value)
            self.fail("internal error", frame)
            return None
        if type(result) is CoroutineType:
            return result
        self._after(frame, result)
        return None

    def _refuse_command(self, frame: Frame) -> None:
        if self.state is State.AWAITING_CONNECT:
            self.fail(f"expected CONNECT, got {frame.command.value}", frame)
        elif frame.command in (Command.CONNECT, Command.STOMP):
            self.fail("already connected", frame)
        else:
            self.fail(f"unexpected command {frame.command.value}", frame)

    def _after(self, frame: Frame, result: Any) -> None:
        if result is NO_RECEIPT or self.state is not State.CONNECTED:
            return
        receipt = frame.get("receipt")
        if receipt is not None:
            self.send_receipt(receipt, result)

    async def _run_async(self, coro: Coroutine[Any, Any, Any], frame: Frame) -> None:
        """Await one handler, then go on with the frames that arrived meanwhile."""
        try:
            result = await coro
        except FrameRefused as exc:
            self.fail(exc.message, frame, exc.body, exc.headers)
        except Exception:
            log.exception("session %s: %s handler failed", self.id, frame.command.value)
            self.fail("internal error", frame)
        else:
            self._after(frame, result)
        finally:
            self.busy = False
        self._resume_backlog()

    # ----------------------------------------------------------------- output

    def enqueue(self, data: bytes, text: bool = True) -> None:
        """Buffer one frame; the broker flushes at the end of this loop turn."""
        self.out.append((data, text))
        self.out_bytes += len(data)
        pending = self.out_bytes + self.link_buffered
        if pending > self.broker.soft_pending_bytes:
            if pending > self.broker.config.max_pending_bytes:
                self.kill("slow consumer: too many pending bytes")
                return
            self.broker.congested.add(self)
        if not self.dirty:
            self.dirty = True
            self.broker.mark_dirty(self)

    def flush(self) -> None:
        self.dirty = False
        if not self.out or self.state is State.CLOSED:
            return
        out, n = self.out, self.out_bytes
        self.out = []
        self.out_bytes = 0
        self.link.write(out)
        self.broker.stats.bytes_out += n
        self.last_tx = self.broker.loop.time()
        self.link_buffered = buffered = self.link.buffered()
        if buffered > self.broker.soft_pending_bytes:
            if buffered > self.broker.config.max_pending_bytes:
                self.kill("slow consumer: too many pending bytes")
            else:
                self.broker.congested.add(self)

    def send_frame(self, frame: Frame) -> None:
        self.enqueue(encode(frame, self.version))

    def send_receipt(self, receipt: str, extra: Any = None) -> None:
        headers = [("receipt-id", receipt)]
        if extra:
            headers.extend((str(k), str(v)) for k, v in extra.items())
        self.send_frame(Frame(Command.RECEIPT, tuple(headers)))

    def deliver(self, sub: Subscription, message: Message, redelivered: bool) -> bool:
        """Router callback: one MESSAGE for `sub`. False when the session is gone."""
        if self.state is not State.CONNECTED:
            return False
        if sub.buffer is not None:
            sub.buffer.append(message)
            return True
        floor = sub.floor
        if floor is not None and message.seq is not None and message.seq <= floor:
            return True   # a replay already sent it
        if redelivered or sub.ack_mode is not AckMode.AUTO:
            self.emit(sub, message, redelivered)
            return True
        # the common case, inlined: shared tail spliced after the subscription prefix
        tail = message._tails.get(self.version)
        if tail is None:
            tail = message.tail(self.version)
        self.broker.stats.messages_out += 1
        self.enqueue(sub.prefix + tail, message._text is True if self.websocket else True)
        return True

    def emit(self, sub: Subscription, message: Message, redelivered: bool) -> None:
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
        data = message.render(sub.prefix, self.version, ack_header, redelivered)
        self.broker.stats.messages_out += 1
        self.enqueue(data, message.is_text if self.websocket else True)

    def subscription_prefix(self, sub_id: str) -> bytes:
        escaped = escape_value(sub_id, self.version).encode()
        return b"MESSAGE\nsubscription:" + escaped + b"\nmessage-id:"

    # ---------------------------------------------------------------- closing

    def fail(
        self,
        message: str,
        frame: Frame | None = None,
        body: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Send ERROR (flushed first), then close. Other sessions are unaffected."""
        if self.state is State.CLOSING or self.state is State.CLOSED:
            return
        pairs = [("message", message)]
        if frame is not None:
            receipt = frame.get("receipt")
            if receipt is not None:
                pairs.append(("receipt-id", receipt))
        if headers:
            pairs.extend(headers.items())
        raw_body = (body or message).encode()
        pairs.append(("content-type", "text/plain"))
        self.send_frame(Frame(Command.ERROR, tuple(pairs), raw_body))
        self.transition(Event.FAIL)
        self.close_after_flush()

    def close_after_flush(self) -> None:
        self.release()
        self.flush()
        self.link.close()

    def kill(self, reason: str) -> None:
        """Drop the connection without flushing (slow consumer)."""
        if self.state is State.CLOSED:
            return
        log.info("session %s closed: %s", self.id, reason, extra=session_fields(self))
        if self.state is not State.CLOSING:
            self.transition(Event.FAIL)
        self.out = []
        self.out_bytes = 0
        self.release()
        self.link.abort()

    def announce(self) -> None:
        """Tell the session listeners this session is open (after CONNECTED)."""
        assert self.principal is not None
        self.announced = True
        self.opened_task = self.broker.events.opened(self.principal)

    def release(self) -> None:
        """Give back subscriptions (unacked queue messages are requeued), drop
        open transactions, tell the session listeners it ended.  Idempotent."""
        if self.announced:
            self.announced = False
            assert self.principal is not None
            self.broker.events.closed(self.principal, self.opened_task)
            self.opened_task = None
        self.transactions = None
        subs = list(self.subs.values())
        self.subs.clear()
        self.acks = None
        for sub in subs:
            self.broker.router.remove(sub)
        self.broker.forget_user_session(self)

    def on_lost(self) -> None:
        """Transport callback: the connection is gone."""
        if self.state is State.CLOSED:
            return
        self.transition(Event.LOST)
        self.release()
        self.broker.forget_session(self)

    # ----------------------------------------------------------------- timers

    def tick(self, now: float, slack: float) -> None:
        """Called by the broker's sweep; `slack` is the sweep period."""
        state = self.state
        if state is State.CONNECTED:
            if self.hb_recv and now - self.last_rx > self.hb_recv + self.broker.grace:
                self.fail("heart-beat timeout: nothing received")
                return
            if self.hb_send and now - self.last_tx >= self.hb_send - slack:
                self.enqueue(HEARTBEAT)
        elif state is State.AWAITING_CONNECT and now - self.created > self.broker.connect_timeout:
            self.fail("no CONNECT frame in time")
