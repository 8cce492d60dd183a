"""The broker's side of one connection: drives a sans-I/O Session over a Link.

A `Connection` is what a transport adapter talks to (it is the adapter's `Endpoint`):
bytes go into the session, and after every call into the session its events are
acted on, in order: authentication and handled SUBSCRIBEs run as tasks, handled
SENDs are handed to their DestinationHandler at once (frame order) and their Futures
watched, reading is paused and resumed, the link is closed.  Output is written once
per event-loop turn: the session's `wake` asks the broker to `service` this
connection in its single pass over every connection that has something to write.

The Futures of the sends in flight live here (`sends`, by token); when the session
closes first they are cancelled, which withdraws the sends their handler has not yet
begun to commit.

Call order: `Connection(...)` from `Broker.accept`; then the transport calls
`receive`, `writable`, `lost`; the broker calls `service`, `tick`, `shutdown`, `kick`,
`resume`, `end_subscriptions`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

from stompim.config import StompConfig
from stompim.errors import StompimError, Unavailable, stomp_error_message
from stompim.logs import CURRENT_SESSION
from stompim.rate_limited_log import RateLimitedLog

from .auth import Authenticator, Principal
from .budget import BUSY_CONNECTIONS, PreauthBudget
from .context import GAP_GRACE_SECONDS, SessionContext
from .destinations import DestinationHandler
from .events import (
    Acknowledged,
    Authenticate,
    AuthorizeSubscribe,
    BeginSend,
    Close,
    FillGap,
    PauseReading,
    ResumeReading,
    SessionEvent,
)
from .link import Link
from .session import Session
from .states import State

__all__ = ["Connection", "ConnectionHost"]

log = logging.getLogger(__name__)
_quiet = RateLimitedLog(log)

WITHDRAWN = "the message was withdrawn before it was stored; send it again"


class ConnectionHost(Protocol):
    """The broker, as a connection sees it."""

    authenticator: Authenticator
    config: StompConfig
    preauth: PreauthBudget

    @property
    def clock(self) -> Callable[[], float]:
        """The event loop's clock (`loop.time`)."""

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` as a task the broker cancels when it closes."""

    def schedule(self, connection: Connection) -> None:
        """`connection` has output: service it in this turn's pass."""

    def user_session_count(self, user_id: int) -> int:
        """How many CONNECTED sessions `user_id` has on this node."""

    def published(self, read_at: float, count: int) -> None:
        """`count` generic SENDs read at `read_at` were published (their delivery time
        is measured once they are written)."""

    def joined(self, connection: Connection) -> None:
        """`connection`'s session is CONNECTED as its principal."""

    def left(self, connection: Connection) -> None:
        """`connection`'s session ended (closing or lost); idempotent."""

    def gone(self, connection: Connection) -> None:
        """`connection`'s transport is gone."""

    def throttle(self, connection: Connection) -> None:
        """`connection` published into a congested consumer: resume it later."""

    def relieve(self) -> None:
        """A congested consumer drained: resume throttled publishers."""

    def fill(
        self, handler: DestinationHandler, principal: Principal, destination: str, since: int,
        asked_at: float,
    ) -> asyncio.Future[list[tuple[dict[str, str], bytes]]]:
        """`handler.replay(principal, destination, since)` (or the handler's `fill`) for
        a hole opened at clock time `asked_at`, shared with every session asking for the
        same (handler, destination, since) while it runs and shortly after
        (stompim.broker.fills)."""


class Connection:
    __slots__ = (
        "charged", "host", "link", "opened", "peer", "raw", "registered", "sends", "session",
    )

    def __init__(
        self, host: ConnectionHost, link: Link, session_id: str, ctx: SessionContext,
        *, handshake_token: str | None, websocket: bool, peer: str | None = None,
    ) -> None:
        self.host = host
        self.link = link
        self.peer = peer   # the client's address, for the authenticator's login limits
        self.session = Session(
            session_id, ctx, functools.partial(host.schedule, self), host.clock(),
            handshake_token=handshake_token, websocket=websocket,
        )
        self.sends: dict[int, asyncio.Future[Mapping[str, str]]] | None = None
        self.registered = False      # counted for its user, listeners told "opened"
        self.opened: asyncio.Task[None] | None = None   # the listeners' "opened" calls
        # Bytes charged to the node's pre-auth budget (stompim.broker.budget) until
        # CONNECTED or gone; None once released, or when never admitted.
        self.charged: int | None = None
        self.raw = False   # the transport charges its raw reads (charge_raw), not receive
        if host.preauth.admit():
            self.charged = 0
        else:
            self.session.fail(BUSY_CONNECTIONS)

    def release_preauth(self) -> None:
        """CONNECTED or gone: give back what the pre-auth budget counted (once)."""
        charged, self.charged = self.charged, None
        if charged is not None:
            self.host.preauth.release(charged)

    def _charge(self, n: int) -> bool:
        """Charge `n` pre-auth bytes; False (after ERROR and close) past a limit."""
        charged = self.charged
        assert charged is not None
        error = self.host.preauth.charge(charged, n)
        self.charged = charged + n
        if error is None:
            return True
        self.release_preauth()
        self.session.fail(error)
        self.act()
        return False

    def charge_raw(self, n: int) -> bool:
        """For a transport that buffers before handing bytes over: `n` bytes were read
        from the socket.  Until CONNECTED these are charged instead of what `receive`
        is given.  False when that passed a limit (the connection is closing)."""
        self.raw = True
        return self.charged is None or self._charge(n)

    @property
    def principal(self) -> Principal | None:
        return self.session.principal

    # ---------------------------------------------------------- the transport

    def receive(self, data: bytes) -> None:
        if self.charged is not None and not self.raw and not self._charge(len(data)):
            return
        session = self.session
        scope = CURRENT_SESSION.set(session)  # log lines (and tasks started here) name it
        try:
            now = self.host.clock()
            stats = session.ctx.stats
            published = stats.published
            session.receive_data(data, now)
            if stats.published != published:
                self.host.published(now, stats.published - published)
            if session.queued_events is not None:
                self.act()
        finally:
            CURRENT_SESSION.reset(scope)

    def writable(self) -> None:
        session = self.session
        congested = session.pending_bytes > session.ctx.soft_pending
        session.transport_buffered(self.link.buffered())
        if congested:
            self.host.relieve()
        self.act()

    def lost(self) -> None:
        self.release_preauth()
        self._withdraw()
        self.session.connection_lost()
        self.host.left(self)
        self.host.gone(self)

    # -------------------------------------------------------------- the broker

    def service(self) -> None:
        """This turn's pass: act on events, then write the output in one go."""
        session = self.session
        if session.queued_events is not None:
            self.act()
        chunks = session.data_to_send()
        if chunks and session.state is not State.CLOSED:
            link = self.link
            link.write(chunks)
            session.transport_buffered(link.buffered())
            if session.queued_events is not None:
                self.act()

    def tick(self, now: float, slack: float) -> None:
        self.session.tick(now, slack)
        self.act()

    def shutdown(self) -> None:
        self.session.shutdown()
        self.act()

    def kick(self, reason: str) -> None:
        self.session.kick(reason)
        self.act()

    def resume(self) -> None:
        self.session.resume_reading()
        self.act()

    def end_subscriptions(self, destination: str, reason: str) -> None:
        self.session.end_subscriptions(destination, reason)
        self.act()

    # ----------------------------------------------------------------- events

    def act(self) -> None:
        """Act on the session's events, in order, until it makes no more."""
        session = self.session
        events = session.events()
        while events:
            for event in events:
                self._handle(event)
            events = session.events()

    def _handle(self, event: SessionEvent) -> None:
        kind = type(event)
        if kind is BeginSend:
            assert isinstance(event, BeginSend)
            self._begin_send(event)
        elif kind is PauseReading:
            assert isinstance(event, PauseReading)
            self.link.pause_reading()
            if event.throttle:
                self.host.throttle(self)
        elif kind is ResumeReading:
            self.link.resume_reading()
        elif kind is Close:
            assert isinstance(event, Close)
            self._close(event.abort)
        elif kind is Authenticate:
            assert isinstance(event, Authenticate)
            self.host.spawn(self._authenticate(event))
        elif kind is AuthorizeSubscribe:
            assert isinstance(event, AuthorizeSubscribe)
            self.host.spawn(self._subscribe(event))
        elif kind is FillGap:
            assert isinstance(event, FillGap)
            self.host.spawn(self._fill_gap(event))
        elif kind is Acknowledged:
            assert isinstance(event, Acknowledged)
            self._acknowledged(event)
        else:  # pragma: no cover - the union is exhaustive
            raise AssertionError(f"unknown session event {event!r}")

    def _acknowledged(self, event: Acknowledged) -> None:
        try:
            event.handler.acknowledged(  # type: ignore[attr-defined]
                event.principal, event.destination, event.headers
            )
        except Exception:  # the ACK is done; the handler's bookkeeping failed
            log.exception("session %s: acknowledged() of %s failed", self.session.id,
                          event.destination)

    def _close(self, abort: bool) -> None:
        self._withdraw()
        link = self.link
        if abort:
            self.session.data_to_send()
            link.abort()
        else:
            chunks = self.session.data_to_send()
            if chunks:
                link.write(chunks)
            link.resume_reading()   # a paused transport could not finish its closing handshake
            link.close()
        self.release_preauth()
        self.host.left(self)

    def _withdraw(self) -> None:
        """Cancel the Futures of the sends in flight (the session is closing)."""
        sends, self.sends = self.sends, None
        if sends:
            for future in sends.values():
                future.cancel()

    # ---------------------------------------------------------------- sending

    def _begin_send(self, event: BeginSend) -> None:
        session = self.session
        try:
            future = event.handler.begin_send(
                event.principal, event.destination, event.headers, event.body
            )
        except Exception as exc:   # a Refusal at once; anything else is a bug (logged)
            session.ctx.stats.send_refused.observe(self.host.clock() - session.last_rx)
            session.send_settled(event.token, exc)
            return
        if self.sends is None:
            self.sends = {}
        self.sends[event.token] = future
        # read_at: when the chunk with this SEND (or its COMMIT) was read
        future.add_done_callback(
            functools.partial(self._settled, event.token, session.last_rx)
        )

    def _settled(
        self, token: int, read_at: float, future: asyncio.Future[Mapping[str, str]]
    ) -> None:
        sends = self.sends
        if sends is None or sends.pop(token, None) is None:
            return    # withdrawn: the session closed first
        outcome: Any
        stats = self.session.ctx.stats
        if future.cancelled():   # not by us: the handler gave up on it unstored
            outcome = Unavailable("destination handler", WITHDRAWN)
            histogram = stats.send_refused
        else:
            error = future.exception()
            outcome = error if error is not None else future.result()
            histogram = stats.send_refused if error is not None else stats.send_stored
        histogram.observe(self.host.clock() - read_at)
        self.session.send_settled(token, outcome)
        self.act()

    # ------------------------------------------------------------------ tasks

    async def _authenticate(self, event: Authenticate) -> None:
        session = self.session
        host = self.host
        try:
            principal = await host.authenticator.authenticate(
                event.headers, event.handshake_token, peer=self.peer
            )
        except Exception as exc:
            if not isinstance(exc, StompimError):
                log.exception("session %s: the authenticator failed", session.id)
            session.connect_refused(stomp_error_message(exc))
        else:
            if session.state is State.AUTHENTICATING:
                limit = host.config.max_connections_per_user
                if host.user_session_count(principal.user_id) >= limit:
                    session.connect_refused("too many connections for this user")
                elif session.authenticated(principal):
                    self.release_preauth()
                    host.joined(self)
        self.act()

    async def _subscribe(self, event: AuthorizeSubscribe) -> None:
        session = self.session
        try:
            await event.handler.authorize_subscribe(event.principal, event.destination)
        except Exception as exc:
            self._refuse_subscribe(event, exc, "forbidden: ")
            return
        handler = event.handler
        ordered = handler.ordered(event.destination)
        session.subscribe_authorized(event.token, ordered)
        self.act()
        if event.since is None and not ordered:
            return
        rows: list[tuple[dict[str, str], bytes]] = []
        try:
            start = event.since
            if ordered:   # from what is stored now (registered first), never past it
                head = await handler.head(event.principal, event.destination)
                start = head if start is None else min(start, head)
            if event.since is not None:
                assert start is not None
                rows = await handler.replay(event.principal, event.destination, start)
        except Exception as exc:
            self._refuse_subscribe(event, exc, "replay refused: ")
            return
        session.replayed(event.token, rows, start if ordered else None)
        self.act()

    async def _fill_gap(self, event: FillGap) -> None:
        """A hole of an ordered stream: first wait GAP_GRACE_SECONDS for the missing
        messages to come live (another node's publish only a little late: no query, and
        no query from every subscriber of a big group at once), then ask the handler."""
        sub = event.sub
        assert sub.source is not None
        opened = self.host.clock()
        await asyncio.sleep(GAP_GRACE_SECONDS)
        if self.session.gap_covered(sub):
            self.session.gap_filled(sub, [], queried=False)
            self.act()
            return
        try:
            rows = await self.host.fill(sub.source, event.principal, sub.destination,
                                        event.since, opened)
        except Exception as exc:
            _quiet.warning(("fill", type(exc)), "filling a gap of %s failed: %r",
                           sub.destination, exc)
            self.session.gap_unfilled(sub, stomp_error_message(exc))
        else:
            self.session.gap_filled(sub, rows)
        self.act()

    def _refuse_subscribe(self, event: AuthorizeSubscribe, error: Exception, prefix: str) -> None:
        if not isinstance(error, StompimError):
            log.error("session %s: the handler of %s failed", self.session.id,
                      event.destination, exc_info=error)
        self.session.subscribe_refused(event.token, stomp_error_message(error, prefix))
        self.act()
