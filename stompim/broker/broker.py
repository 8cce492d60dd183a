"""The Broker: listeners, the session registry, the flush and timer machinery.

One Broker per node.  It owns the Router (subscriptions), the DestinationRules
(with the registered DestinationHandlers), the Publisher given to the IM layer,
and two pieces of shared machinery that keep idle sessions cheap:

* one flush per event-loop turn for all sessions that produced output
  (`mark_dirty` -> `_flush_all`), and
* one periodic sweep over all sessions for connect timeouts and heart-beats
  (`_sweep`), instead of timers or tasks per session.

Call order: `Broker(config, authenticator)`, `add_handler(...)`, optionally
`add_session_listener(...)` and `set_bridge(...)`, then `await start_tcp(...)` /
`await start_websocket(...)`, finally `await close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from typing import Any

from websockets.asyncio.server import Server as WsServer

from stompim.config import StompConfig
from stompim.frames import Limits
from stompim.logs import session_fields

from .auth import Authenticator
from .destinations import DestinationHandler, DestinationRules, Kind
from .listeners import SessionEvents, SessionListener
from .message import Message
from .publisher import Bridge, BrokerPublisher, Headers, LocalBridge
from .router import QueueFull, Router
from .session import Link, Session
from .tcp import StompTcpProtocol
from .websocket import start_websocket_server

__all__ = ["Broker", "Stats"]

log = logging.getLogger(__name__)


@dataclass
class Stats:
    """Counters for /metrics (mutable on purpose: bumped on hot paths)."""

    connections: int = 0
    connections_total: int = 0
    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


class Broker:
    max_transaction_frames = 1000

    def __init__(
        self, config: StompConfig, authenticator: Authenticator, *, node_id: str = ""
    ) -> None:
        self.config = config
        self.authenticator = authenticator
        self.node_id = node_id
        self.limits = Limits(
            max_frame_size=config.max_frame_size,
            max_headers=config.max_headers,
            max_header_length=config.max_header_length,
        )
        self.rules = DestinationRules(config.open_generic_destinations)
        self.router = Router(config.max_queue_depth)
        self.stats = Stats()
        self.publisher = BrokerPublisher(self)
        self.bridge: Bridge = LocalBridge()
        self._forwarding = False   # a real bridge is set: hand topic messages over
        # Imported late: handlers imports session, which this module imports.
        # Sessions look their handler up here (no import per frame).
        from .handlers import HANDLERS

        self.handlers = HANDLERS
        self.grace = config.heartbeat_grace_ms / 1000.0
        self.connect_timeout = config.connect_timeout_ms / 1000.0
        self.sessions: set[Session] = set()
        self._users: dict[int, set[Session]] = {}
        self._ids = itertools.count(1)
        self._dirty: list[Session] = []
        self._flush_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._tcp_servers: list[asyncio.Server] = []
        self._ws_servers: list[WsServer] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.events = SessionEvents()
        # Publisher flow control: a session whose transport buffer passed the soft
        # limit is "congested"; a session publishing while any is congested stops
        # reading for at most `throttle_seconds` (or until the buffers drain).  A
        # consumer that never drains still reaches max_pending_bytes and is dropped.
        self.soft_pending_bytes = max(1024, config.max_pending_bytes // 4)
        self.throttle_seconds = 0.05
        self.congested: set[Session] = set()
        self._throttled: set[Session] = set()
        self._relieve_handle: asyncio.TimerHandle | None = None
        periods = [config.connect_timeout_ms]
        if config.heartbeat_send_ms:
            periods.append(config.heartbeat_send_ms)
        if config.heartbeat_receive_ms:
            periods.append(config.heartbeat_receive_ms + config.heartbeat_grace_ms)
        self.sweep_period = min(1.0, max(0.005, min(periods) / 4000.0))

    # ------------------------------------------------------------- wiring

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def add_handler(self, handler: DestinationHandler) -> None:
        self.rules.add_handler(handler)

    def add_session_listener(self, listener: SessionListener) -> None:
        """`listener` hears of every session opened and ended from now on (see
        stompim.broker.listeners)."""
        self.events.listeners.append(listener)

    def set_bridge(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self._forwarding = not isinstance(bridge, LocalBridge)
        bridge.attach(self)

    @property
    def sessions_count(self) -> int:
        return len(self.sessions)

    @property
    def metrics(self) -> dict[str, int]:
        out = asdict(self.stats)
        out["sessions"] = len(self.sessions)
        out["users"] = len(self._users)
        return out

    # ---------------------------------------------------------- listeners

    def _start_sweeper(self) -> None:
        if self._sweeper is None:
            self._sweeper = self.loop.create_task(self._sweep())

    async def start_tcp(self, host: str, port: int) -> int:
        server = await self.loop.create_server(lambda: StompTcpProtocol(self), host, port)
        self._tcp_servers.append(server)
        self._start_sweeper()
        return int(server.sockets[0].getsockname()[1])

    async def start_websocket(self, host: str, port: int, path: str = "/ws") -> int:
        server = await start_websocket_server(self, host, port, path)
        self._ws_servers.append(server)
        self._start_sweeper()
        return int(next(iter(server.sockets)).getsockname()[1])

    async def close(self) -> None:
        """Stop listening, close every session (ERROR "server shutting down")."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._relieve_handle is not None:
            self._relieve_handle.cancel()
            self._relieve_handle = None
        for tcp in self._tcp_servers:
            tcp.close()
        for session in list(self.sessions):
            session.fail("server shutting down")
        for ws in self._ws_servers:
            ws.close()
            await ws.wait_closed()
        for tcp in self._tcp_servers:
            await tcp.wait_closed()
        self._tcp_servers.clear()
        self._ws_servers.clear()
        await self.events.drain(grace=2.0)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.bridge.close()
        await asyncio.sleep(0)

    # ----------------------------------------------------------- sessions

    def open_session(
        self, link: Link, *, handshake_token: str | None = None, websocket: bool = False
    ) -> Session:
        session_id = f"{self.node_id}s{next(self._ids)}"
        session = Session(
            self, link, session_id, handshake_token=handshake_token, websocket=websocket
        )
        self.sessions.add(session)
        self.stats.connections += 1
        self.stats.connections_total += 1
        return session

    def forget_session(self, session: Session) -> None:
        self.congested.discard(session)
        self._throttled.discard(session)
        if session in self.sessions:
            self.sessions.discard(session)
            self.stats.connections -= 1

    def remember_user_session(self, session: Session) -> None:
        assert session.principal is not None
        self._users.setdefault(session.principal.user_id, set()).add(session)

    def forget_user_session(self, session: Session) -> None:
        if session.principal is None:
            return
        user_sessions = self._users.get(session.principal.user_id)
        if user_sessions is not None:
            user_sessions.discard(session)
            if not user_sessions:
                del self._users[session.principal.user_id]

    def user_session_count(self, user_id: int) -> int:
        return len(self._users.get(user_id, ()))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------- output

    def mark_dirty(self, session: Session) -> None:
        self._dirty.append(session)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush_all)

    def _flush_all(self) -> None:
        self._flush_handle = None
        dirty, self._dirty = self._dirty, []
        for session in dirty:
            session.flush()

    def throttle(self, session: Session) -> None:
        """Pause reading from `session` (it publishes into a congested consumer)."""
        if session in self._throttled or not session.is_open:
            return
        self._throttled.add(session)
        session.throttle()
        if self._relieve_handle is None:
            self._relieve_handle = self.loop.call_later(self.throttle_seconds, self.relieve, True)

    def relieve(self, force: bool = False) -> None:
        """Drop drained sessions from `congested`; resume publishers when none is
        left (or always when `force`: the throttle is bounded in time)."""
        soft = self.soft_pending_bytes
        for session in list(self.congested):
            if not session.is_open or session.out_bytes + session.link.buffered() <= soft // 2:
                self.congested.discard(session)
        if self.congested and not force:
            return
        if self._relieve_handle is not None:
            self._relieve_handle.cancel()
            self._relieve_handle = None
        throttled, self._throttled = self._throttled, set()
        for session in throttled:
            session.unthrottle()

    async def _sweep(self) -> None:
        period = self.sweep_period
        while True:
            await asyncio.sleep(period)
            now = self.loop.time()
            for session in list(self.sessions):
                session.tick(now, period)

    # --------------------------------------------------------- publishing

    def publish_local(
        self, kind: Kind, destination: str, headers: Headers, body: bytes, *, forward: bool
    ) -> int:
        """Deliver on this node (QueueFull for a full generic queue); topics are
        also handed to the bridge when `forward`."""
        count = self.router.publish(kind, Message(destination, headers, body, self.node_id))
        if forward and self._forwarding and kind is Kind.TOPIC:
            self.bridge.forward_message(destination, headers, body)
        return count

    def publish(self, destination: str, headers: Headers, body: bytes) -> None:
        """Server-side publish (Publisher.publish)."""
        try:
            self.publish_local(self.rules.kind_of(destination), destination, headers, body,
                               forward=True)
        except QueueFull:
            log.warning("dropped a server message for full queue %s", destination)

    def deliver_remote(self, destination: str, headers: Headers, body: bytes) -> None:
        """BridgeSink: a message another node published."""
        try:
            self.publish_local(self.rules.kind_of(destination), destination, headers, body,
                               forward=False)
        except QueueFull:
            log.warning("dropped a remote message for full queue %s", destination)

    def close_user_sessions_local(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        for session in list(self._users.get(user_id, ())):
            principal = session.principal
            if token_id is None or (principal is not None and principal.token_id == token_id):
                session.fail(reason)

    def end_subscriptions_local(self, user_id: int, destination: str, reason: str) -> None:
        from .handlers import unsubscribe

        for session in list(self._users.get(user_id, ())):
            for sub in list(session.subs.values()):
                if sub.destination == destination:
                    log.info("session %s: subscription %s ended: %s", session.id, sub.id, reason,
                             extra=session_fields(session))
                    unsubscribe(session, sub)
