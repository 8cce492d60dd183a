"""One STOMP session, sans I/O: the methods its owner (the broker) calls.

Like the codec, and like websockets' `Protocol` or h11's `Connection`, a `Session`
does no I/O, starts no task, awaits nothing and reads no clock:

* input: `receive_data(bytes, now)` for every chunk the transport received (any
  split), `connection_lost()` once, `tick(now, slack)` from the broker's periodic
  sweep, and the answers to its events (below);
* output: `data_to_send()` (the frames to write, after `wake()` was called) and
  `events()` (decisions it needs the world for, stompim.broker.events);
* answers: `authenticated` / `connect_refused` (to `Authenticate`),
  `subscribe_authorized`, `replayed`, `subscribe_refused` (to `AuthorizeSubscribe`),
  `send_settled` (to `BeginSend`), `resume_reading` (after `PauseReading(throttle)`),
  and, from the broker's side of things, `shutdown`, `kick`, `end_subscriptions`.

Call order: after every call above, take `events()` and act on them in order (an
event may lead to another call, whose events come next); write `data_to_send()` once
per event-loop turn after `wake()`.  Command handling lives in one module per
concern: connect (CONNECT, DISCONNECT), subscribe, send, transactions (ACK, NACK,
BEGIN, COMMIT, ABORT); the shared state and output in stompim.broker.core; the state
table in stompim.broker.states.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from stompim.frames import HEARTBEAT, Command

from . import connect, send, subscribe, transactions
from .auth import Principal
from .context import MAX_BACKLOG, REPLAY_DEDUPE_SECONDS
from .core import Handler, SessionCore
from .records import Finale
from .router import Subscription
from .send_fastpath import take_sends
from .states import INPUT, Hold, Input, State, Trigger

__all__ = ["HANDLERS", "SHUTDOWN_MESSAGE", "Session"]

SHUTDOWN_MESSAGE = "server shutting down"

HANDLERS: dict[Command, Handler] = {
    Command.CONNECT: connect.on_connect,
    Command.STOMP: connect.on_connect,
    Command.DISCONNECT: connect.on_disconnect,
    Command.SUBSCRIBE: subscribe.on_subscribe,
    Command.UNSUBSCRIBE: subscribe.on_unsubscribe,
    Command.SEND: send.on_send,
    Command.ACK: transactions.on_ack,
    Command.NACK: transactions.on_nack,
    Command.BEGIN: transactions.on_begin,
    Command.COMMIT: transactions.on_commit,
    Command.ABORT: transactions.on_abort,
}


class Session(SessionCore):
    handlers: ClassVar[Mapping[Command, Handler]] = HANDLERS

    __slots__ = ()

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the transport, in order, received at `now`.  Never raises: a
        protocol error becomes ERROR and close."""
        state = self.state
        if state is not State.CONNECTED and INPUT[state] is Input.IGNORE:
            return
        self.last_rx = now
        self.ctx.stats.bytes_in += len(data)
        if state is State.CONNECTED and self.ctx.id_prefix is not None and self.hold is None:
            data = self._take_sends(data)
            if not data:
                return
        frames: list[Any] = self.parser.feed(data)
        self._run_parsed(frames)

    def _take_sends(self, data: bytes) -> bytes:
        """The SEND fast path (stompim.broker.send_fastpath) over `data`: the frame the
        parser held over is finished (and run) first, then the plain SENDs are taken;
        what is left (from a frame boundary) for the parser, b"" for nothing."""
        if type(data) is not bytes:
            data = bytes(data)
        parser = self.parser
        frames, pos = parser.feed_held(data)
        if frames or parser.error is not None:
            self._run_parsed(frames)
        if pos < 0:
            return b""
        if self.state is State.CONNECTED and self.hold is None and self.backlog is None:
            pos = take_sends(self, data, pos)
        if self.state is not State.CONNECTED and INPUT[self.state] is Input.IGNORE:
            return b""   # closed meanwhile: the rest is never read (nor held)
        return data[pos:] if pos else data

    def _run_parsed(self, frames: list[Any]) -> None:
        """Run what the parser gave, its error (once) last."""
        error = self.parser.error
        if error is not None and not self.parse_failed:
            self.parse_failed = True
            frames.append(error)
        if not frames:
            return
        backlog = self.backlog
        if backlog is not None:
            backlog.extend(frames)
            if len(backlog) > MAX_BACKLOG:
                self.backlog = None
                self.fail("too many frames waiting to be processed")
            return
        self.run_frames(deque(frames))

    def connection_lost(self) -> None:
        """The transport is gone (either side closed it); called once."""
        if self.state is State.CLOSED:
            return
        self.transition(Trigger.LOST)
        self.answers = None
        self.pending = None
        self.out = []
        self.out_bytes = 0
        self.release()

    def tick(self, now: float, slack: float) -> None:
        """The broker's sweep, every `slack` seconds: connect timeout, heart-beats,
        slow consumers, replay de-duplication, a drain that takes too long."""
        state = self.state
        if state is State.CONNECTED:
            self._heartbeat_due(now, slack)
            if self.state is not State.CONNECTED:
                return
            if self.congested_since is not None or self.pending_bytes > self.ctx.soft_pending:
                self._congestion_due(now)
            if self.replays:
                self._replays_due(now)
        elif state is State.AWAITING_CONNECT:
            if now - self.created > self.ctx.connect_timeout:
                self.fail("no CONNECT frame in time")
        elif state is State.DRAINING:
            if self.deadline is None:
                self.deadline = now + self.ctx.drain
            elif now > self.deadline:
                finale = self.finale
                self.fail(finale.error if finale is not None and finale.error is not None
                          else "timed out waiting for SENDs to be stored")

    def _heartbeat_due(self, now: float, slack: float) -> None:
        """Heart-beats both ways (spec "Heart-beating"): fail a silent client, send an
        EOL when we were silent.  Reading paused by our own flow control counts as
        hearing from the client."""
        if self.sent:
            self.sent = False
            self.last_tx = now
        if self.hold is not None:
            self.last_rx = now
        elif self.hb_recv and now - self.last_rx > self.hb_recv + self.ctx.grace:
            self.fail("heart-beat timeout: nothing received")
            return
        if self.hb_send and now - self.last_tx >= self.hb_send - slack:
            self.ctx.stats.heartbeats_out += 1
            self.enqueue(HEARTBEAT)

    def _congestion_due(self, now: float) -> None:
        """Drop a consumer whose pending bytes stayed above the soft limit for
        `slow_consumer_ms` (measured from the first tick that saw it congested)."""
        if self.out_bytes + self.link_buffered <= self.ctx.soft_pending:
            self.congested_since = None
        elif self.congested_since is None:
            self.congested_since = now
        elif now - self.congested_since > self.ctx.slow_consumer:
            self.kill("slow consumer: pending bytes above the soft limit for too long",
                      "congested_too_long")

    def _replays_due(self, now: float) -> None:
        """Forget the replayed ids of subscriptions whose de-duplication has lasted
        REPLAY_DEDUPE_SECONDS."""
        replays = self.replays
        assert replays is not None
        for sub in list(replays):
            replay = sub.replay
            if replay is None or replay.buffer is not None:
                continue
            if replay.until is None:
                replay.until = now + REPLAY_DEDUPE_SECONDS
            elif now >= replay.until:
                sub.replay = None
                replays.remove(sub)
        if not replays:
            self.replays = None

    # ---------------------------------------------------------------- answers

    def authenticated(self, principal: Principal) -> bool:
        """Answer to `Authenticate`: CONNECTED; False if the session moved on meanwhile."""
        return connect.authenticated(self, principal)

    def connect_refused(self, message: str) -> None:
        """Answer to `Authenticate`: refused, ERROR `message` and close."""
        connect.connect_refused(self, message)

    def subscribe_authorized(self, token: int, ordered: bool = False) -> None:
        subscribe.subscribe_authorized(self, token, ordered)

    def replayed(
        self, token: int, rows: list[tuple[dict[str, str], bytes]], start: int | None = None
    ) -> None:
        subscribe.replayed(self, token, rows, start)

    def gap_covered(self, sub: Subscription) -> bool:
        return subscribe.gap_covered(self, sub)

    def gap_filled(self, sub: Subscription, rows: list[tuple[dict[str, str], bytes]],
                   queried: bool = True) -> None:
        subscribe.gap_filled(self, sub, rows, queried)

    def gap_unfilled(self, sub: Subscription, reason: str) -> None:
        subscribe.gap_unfilled(self, sub, reason)

    def subscribe_refused(self, token: int, message: str) -> None:
        subscribe.subscribe_refused(self, token, message)

    def send_settled(self, token: int, outcome: Any) -> None:
        send.send_settled(self, token, outcome)

    def resume_reading(self) -> None:
        """The throttle is over: read again."""
        self.release_hold(Hold.THROTTLE)

    # ----------------------------------------------------------- server side

    def shutdown(self) -> None:
        """The server is shutting down: read no more frames, answer what is owed, then
        ERROR "server shutting down" (at once for a session not yet CONNECTED)."""
        state = self.state
        if state is State.CONNECTED:
            transactions.abort_all(self)
            self.begin_drain(Trigger.SHUTDOWN, Finale(error=SHUTDOWN_MESSAGE))
        elif state is State.AWAITING_CONNECT or state is State.AUTHENTICATING:
            self.fail(SHUTDOWN_MESSAGE)

    def kick(self, reason: str) -> None:
        """ERROR `reason` and close (logout, account disabled, shutdown overdue)."""
        self.fail(reason)

    def end_subscriptions(self, destination: str, reason: str) -> None:
        subscribe.end_subscriptions(self, destination, reason)
