"""The Broker: listeners, the connection registry, the flush and timer machinery.

One Broker per node.  It owns the Exchange (destination rules with the registered
DestinationHandlers, and the router), the Publisher given to the IM layer, the
connections (each a sans-I/O Session driven by a `Connection`), and the shared
machinery that keeps idle sessions cheap:

* one pass per event-loop turn over every connection that produced output
  (`schedule` -> `_service_all`): each writes once;
* one periodic sweep over all connections for timeouts, heart-beats and slow
  consumers (`_sweep`), instead of timers or tasks per session; it also expires
  queued messages past their TTL and gives freed heap back (stompim.broker.memory);
* one timer for throttled publishers (`throttle` -> `relieve`): a publisher whose
  SEND reached a congested consumer stops reading for at most `throttle_seconds`,
  or until a congested consumer drains; nobody else is slowed down.

Shutdown (`close`) drains: listeners stop accepting, every session stops reading
frames, the sends in flight finish (bounded by `send_drain_ms`) and are answered,
then every session gets ERROR "server shutting down"; `close` returns once the
transports finished closing (bounded), so a process that exits next loses nothing
it wrote.

Call order: `Broker(config, authenticator)`, `add_handler(...)`, optionally
`add_session_listener(...)`, `set_bridge(...)` and `set_shared_queues(...)`, then
`await start_tcp(...)` / `await start_websocket(...)`, finally `await close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from websockets.asyncio.server import Server as WsServer

from stompim.config import StompConfig
from stompim.forwarded import TrustedProxies

from .auth import Authenticator, Principal
from .budget import PreauthBudget
from .connection import Connection
from .context import GAP_GRACE_SECONDS, SessionContext
from .destinations import DestinationHandler, DestinationRules, Kind
from .errors import QueueFull
from .exchange import Exchange, Stats
from .fills import Rows, SharedFills
from .http_endpoints import EndpointOptions, StompEndpoints
from .link import Link
from .listeners import SessionEvents, SessionListener
from .memory import HeapTrimmer
from .message import Headers
from .publisher import Bridge, BrokerPublisher, LocalBridge
from .router import Router, SharedQueues, queue_limits
from .session import SHUTDOWN_MESSAGE, Session
from .states import State
from .tcp import LINGER_SECONDS, StompTcpProtocol
from .websocket import start_websocket_server

__all__ = ["Broker", "Stats"]

log = logging.getLogger(__name__)


class Broker:
    def __init__(
        self, config: StompConfig, authenticator: Authenticator, *, node_id: str = ""
    ) -> None:
        self.config = config
        self.authenticator = authenticator
        self.node_id = node_id
        self.rules = DestinationRules(
            config.open_generic_destinations,
            app_prefixes=config.application_destination_prefixes,
            user_prefix=config.user_destination_prefix,
        )
        self.router = Router(queue_limits(config), clock=lambda: self.clock())
        self.stats = Stats()
        self.exchange = Exchange(self.rules, self.router, node_id)
        self.context = SessionContext(config, self.exchange, self.stats)
        self.preauth = PreauthBudget(config)
        self.trimmer = HeapTrimmer()
        self.publisher = BrokerPublisher(self)
        self.bridge: Bridge = LocalBridge()
        self.connections: set[Connection] = set()
        self._users: dict[int, set[Connection]] = {}
        self.close_listeners: list[Callable[[int], None]] = []
        """Called with the user id whenever a user's sessions are closed by a control,
        local or from another node (the STOMP binding drops its cached account state)."""
        self._ids = itertools.count(1)
        self._ready: list[Connection] = []
        self._published: list[tuple[float, int]] = []   # see `published`
        self._service_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: Callable[[], float] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._tcp_servers: list[asyncio.Server] = []
        self._ws_servers: list[WsServer] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._fills: SharedFills | None = None   # see `fill`
        self.events = SessionEvents()
        self.throttle_seconds = 0.05
        self._throttled: set[Connection] = set()
        self._relieve_handle: asyncio.TimerHandle | None = None
        self._closing = False
        self._draining: set[Connection] = set()
        self._drained: asyncio.Event | None = None
        self._gone = asyncio.Event()   # closing: set once every connection is gone
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

    @property
    def soft_pending_bytes(self) -> int:
        return self.context.soft_pending

    def add_handler(self, handler: DestinationHandler) -> None:
        self.rules.add_handler(handler)

    def add_session_listener(self, listener: SessionListener) -> None:
        """`listener` hears of every session opened and ended from now on (see
        stompim.broker.listeners)."""
        self.events.listeners.append(listener)

    def set_shared_queues(self, queues: SharedQueues, handler: DestinationHandler) -> None:
        """Generic queues live in `queues` (shared with other nodes) from now on; their
        SENDs are stored through `handler` before the RECEIPT.  Before any session."""
        self.router.shared = queues
        self.rules.set_queue_handler(handler)

    def set_bridge(self, bridge: Bridge) -> None:
        self.bridge = bridge
        local = isinstance(bridge, LocalBridge)
        self.exchange.forward = None if local else bridge.forward_message
        bridge.attach(self)

    @property
    def sessions(self) -> list[Session]:
        return [connection.session for connection in self.connections]

    @property
    def sessions_count(self) -> int:
        return len(self.connections)

    @property
    def metrics(self) -> dict[str, int]:
        """The plain counters (tests, logs); /metrics reads stompim.broker.metrics."""
        out = {name: value for name, value in vars(self.stats).items() if type(value) is int}
        out["sessions"] = len(self.connections)
        out["users"] = len(self._users)
        out["preauth_connections"] = self.preauth.connections
        out["preauth_bytes"] = self.preauth.bytes
        out["queues"] = len(self.router.queues)
        out["queued_bytes"] = self.router.queued_bytes
        out["queue_messages_expired"] = self.router.expired
        out["heap_trims"] = self.trimmer.trims
        return out

    # ---------------------------------------------------------- listeners

    def _start_sweeper(self) -> None:
        if self._sweeper is None:
            self._sweeper = self.loop.create_task(self._sweep())

    async def start_tcp(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """Serve STOMP over TCP; `reuse_port`: SO_REUSEPORT (processes share the port)."""
        server = await self.loop.create_server(
            lambda: StompTcpProtocol(self), host, port, reuse_port=reuse_port or None
        )
        self._tcp_servers.append(server)
        self._start_sweeper()
        return int(server.sockets[0].getsockname()[1])

    async def start_websocket(
        self, host: str, port: int, path: str = "/ws", *, fast_path: bool | None = None,
        trusted_proxies: TrustedProxies | None = None, reuse_port: bool = False,
        origins: Iterable[str] | None = None,
    ) -> int:
        """Serve STOMP over WebSocket; `fast_path` (default: config `ws_fast_path`)
        picks the fast path of stompim.broker.ws_fastpath or websockets' public API;
        behind `trusted_proxies` the client's address comes from X-Forwarded-For.
        `origins`: the browser origins whose pages may open a session (config
        `http.cors_origins`; None: any)."""
        fast = self.config.ws_fast_path if fast_path is None else fast_path
        server = await start_websocket_server(
            self, host, port, path, max_frame_size=self.config.max_frame_size, fast_path=fast,
            trusted_proxies=trusted_proxies, reuse_port=reuse_port,
            origins=None if origins is None else frozenset(origins),
        )
        self._ws_servers.append(server)
        self._start_sweeper()
        return int(next(iter(server.sockets)).getsockname()[1])

    def http_endpoints(self, options: EndpointOptions) -> StompEndpoints:
        """STOMP on the REST port (raw WebSocket and SockJS, stompim.broker.http_endpoints):
        the caller adds its routes to the aiohttp app and closes it at cleanup."""
        self._start_sweeper()
        return StompEndpoints(self, options)

    async def close(self) -> None:
        """Drain and stop: accept nothing more, let every session answer the sends it
        has in flight (at most `send_drain_ms`), then ERROR "server shutting down".
        A second call returns at once (the node calls it when the REST port stops, so
        that its STOMP sessions drain like the others, and again at the end)."""
        if self._closing:
            return
        self._closing = True
        for tcp in self._tcp_servers:
            tcp.close()
        for ws in self._ws_servers:
            ws.close(close_connections=False)
        await self._drain(self.config.send_drain_ms / 1000.0)
        for connection in list(self.connections):
            connection.kick(SHUTDOWN_MESSAGE)
        if self.connections:   # let the transports finish closing (TCP lingers, bounded)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gone.wait(), LINGER_SECONDS + 1.0)
        for ws in self._ws_servers:
            ws.close()
            await ws.wait_closed()
        for tcp in self._tcp_servers:
            await tcp.wait_closed()
        self._tcp_servers.clear()
        self._ws_servers.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._relieve_handle is not None:
            self._relieve_handle.cancel()
            self._relieve_handle = None
        await self.events.drain(grace=2.0)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.bridge.close()
        await asyncio.sleep(0)

    async def _drain(self, grace: float) -> None:
        """Shut every session down gracefully; wait until each has sent its last frame
        or `grace` seconds passed."""
        self._drained = asyncio.Event()
        for connection in list(self.connections):
            state = connection.session.state
            if state is not State.CLOSING and state is not State.CLOSED:
                self._draining.add(connection)
        for connection in list(self._draining):
            connection.shutdown()
        if self._draining:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), grace)
        self._draining.clear()

    # ------------------------------------------------------ connections

    def accept(
        self, link: Link, *, handshake_token: str | None = None, websocket: bool = False,
        peer: str | None = None,
    ) -> Connection:
        """A transport opened a connection (stompim.broker.link.Acceptor)."""
        connection = Connection(
            self, link, f"{self.node_id}s{next(self._ids)}", self.context,
            handshake_token=handshake_token, websocket=websocket, peer=peer,
        )
        self.connections.add(connection)
        stats = self.stats
        stats.connections += 1
        stats.connections_total += 1
        stats.open_by_transport[websocket] += 1
        stats.accepted_by_transport[websocket] += 1
        if self._closing:
            connection.shutdown()
        elif connection.session.queued_events is not None:   # refused (pre-auth budget)
            connection.act()
        return connection

    @property
    def clock(self) -> Callable[[], float]:
        clock = self._clock
        if clock is None:
            clock = self._clock = self.loop.time
        return clock

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def fill(
        self, handler: DestinationHandler, principal: Principal, destination: str, since: int,
        asked_at: float,
    ) -> asyncio.Future[Rows]:
        """The hole of an ordered stream (Connection._fill_gap), opened at loop time
        `asked_at`: one query for every session with the same hole, e.g. the online
        members of a group when a publish was lost (stompim.broker.fills says when a
        query is shared; the first asker's principal runs it: they all passed the
        handler's subscribe check for this destination). A handler whose `replay`
        depends on who asks has `fill`, which must not (DestinationHandler)."""
        fills = self._fills
        if fills is None:
            fills = self._fills = SharedFills(self.loop, self.clock, GAP_GRACE_SECONDS,
                                             self._track)
        query = getattr(handler, "fill", None) or handler.replay
        return fills.fill((id(handler), destination, since), asked_at,
                          lambda: query(principal, destination, since))

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def user_ids(self) -> Iterable[int]:
        """The users with a CONNECTED session on this node (stompim_stomp_users)."""
        return self._users.keys()

    def user_session_count(self, user_id: int) -> int:
        """CONNECTED sessions of `user_id` on this node."""
        return len(self._users.get(user_id, ()))

    def joined(self, connection: Connection) -> None:
        principal = connection.principal
        assert principal is not None
        self._users.setdefault(principal.user_id, set()).add(connection)
        connection.registered = True
        self.stats.sessions_by_transport[connection.session.websocket] += 1
        connection.opened = self.events.opened(principal)

    def left(self, connection: Connection) -> None:
        self._throttled.discard(connection)
        if self._draining and connection in self._draining:
            self._draining.discard(connection)
            if not self._draining and self._drained is not None:
                self._drained.set()
        if not connection.registered:
            return
        connection.registered = False
        self.stats.sessions_by_transport[connection.session.websocket] -= 1
        principal = connection.principal
        assert principal is not None
        user_connections = self._users.get(principal.user_id)
        if user_connections is not None:
            user_connections.discard(connection)
            if not user_connections:
                del self._users[principal.user_id]
        self.events.closed(principal, connection.opened)
        connection.opened = None

    def gone(self, connection: Connection) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            self.stats.connections -= 1
            self.stats.open_by_transport[connection.session.websocket] -= 1
            if self._closing and not self.connections:
                self._gone.set()

    # ------------------------------------------------------------- output

    def schedule(self, connection: Connection) -> None:
        self._ready.append(connection)
        if self._service_handle is None:
            self._service_handle = self.loop.call_soon(self._service_all)

    def published(self, read_at: float, count: int) -> None:
        """`count` generic SENDs read at `read_at` were published: once this turn's
        pass has written their MESSAGEs to the local subscribers' transports, their
        latency goes into `stats.send_delivery` (one clock read per pass, not per
        delivery).  Called by `Connection.receive` only: SENDs a session runs later,
        from its backlog after a hold, are not timed."""
        self._published.append((read_at, count))
        if self._service_handle is None:
            self._service_handle = self.loop.call_soon(self._service_all)

    def _service_all(self) -> None:
        try:
            while self._ready:
                ready, self._ready = self._ready, []
                for connection in ready:
                    connection.service()
        finally:
            self._service_handle = None
            if self._published:
                published, self._published = self._published, []
                now = self.clock()
                observe = self.stats.send_delivery.observe
                for read_at, count in published:
                    observe(now - read_at, count)

    def throttle(self, connection: Connection) -> None:
        """`connection` stopped reading: its SEND reached a congested consumer."""
        self._throttled.add(connection)
        if self._relieve_handle is None:
            self._relieve_handle = self.loop.call_later(self.throttle_seconds, self.relieve)

    def relieve(self) -> None:
        """Resume every throttled publisher (a consumer drained, or the bound passed);
        one still writing into a congested consumer is throttled again by its next
        SEND."""
        if self._relieve_handle is not None:
            self._relieve_handle.cancel()
            self._relieve_handle = None
        if not self._throttled:
            return
        throttled, self._throttled = self._throttled, set()
        for connection in throttled:
            connection.resume()

    async def _sweep(self) -> None:
        period = self.sweep_period
        while True:
            await asyncio.sleep(period)
            now = self.loop.time()
            for connection in list(self.connections):
                connection.tick(now, period)
            self.router.expire(now)
            self.trimmer.maybe_trim(now)

    # --------------------------------------------------------- publishing

    def publish(self, destination: str, headers: Headers, body: bytes) -> None:
        """Server-side publish (Publisher.publish), forwarded to the other nodes."""
        try:
            self.exchange.publish(self.rules.kind_of(destination), destination, headers, body,
                                  forward=True)
        except QueueFull:
            log.warning("dropped a server message for full queue %s", destination)

    def wants_remote(self, destination: str) -> bool:
        """BridgeSink: False when `deliver_remote(destination, ...)` would reach nobody
        here (no topic subscription on this node and not a generic queue)."""
        if destination in self.router.topics:
            return True
        return destination.startswith("/queue/") and self.rules.kind_of(destination) is Kind.QUEUE

    def deliver_remote(self, destination: str, headers: Headers, body: bytes) -> None:
        """BridgeSink: a message another node published."""
        try:
            self.exchange.publish(self.rules.kind_of(destination), destination, headers, body,
                                  forward=False)
        except QueueFull:
            log.warning("dropped a remote message for full queue %s", destination)

    def close_user_sessions_local(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        for listener in self.close_listeners:
            try:
                listener(user_id)
            except Exception:
                log.exception("a close listener failed")
        for connection in list(self._users.get(user_id, ())):
            principal = connection.principal
            if token_id is None or (principal is not None and principal.token_id == token_id):
                connection.kick(reason)

    def connected_users(self) -> list[int]:
        """Users with a CONNECTED session on this node."""
        return list(self._users)

    def principals_of(self, user_id: int) -> list[Principal]:
        """The principals of `user_id`'s CONNECTED sessions on this node."""
        return [c.principal for c in self._users.get(user_id, ()) if c.principal is not None]

    def close_sessions_where(
        self, user_id: int, reason: str, stale: Callable[[Principal], bool]
    ) -> int:
        """Close `user_id`'s sessions on this node whose principal `stale` picks (the
        STOMP binding's periodic credential check); returns how many."""
        closed = 0
        for connection in list(self._users.get(user_id, ())):
            principal = connection.principal
            if principal is not None and stale(principal):
                connection.kick(reason)
                closed += 1
        return closed

    def end_subscriptions_local(self, user_id: int, destination: str, reason: str) -> None:
        for connection in list(self._users.get(user_id, ())):
            connection.end_subscriptions(destination, reason)
