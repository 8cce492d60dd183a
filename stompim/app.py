"""Wiring of one node: store, IM services, broker and HTTP app, built from a Config.

Call order: `Node(config)`, `await node.start()`, ..., `await node.stop()`.
`start()` enters each long-lived part (database pool, key-value store, broker
listeners, HTTP site) into one AsyncExitStack, so `stop()` — or a failure half
way through `start()` — tears down exactly what started, in reverse order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from stompim.broker import Broker
from stompim.broker.auth import AnonymousAuthenticator
from stompim.broker.http_endpoints import EndpointOptions, StompEndpoints
from stompim.broker.http_sockjs import SockJsOptions
from stompim.broker.metrics import BrokerCollector
from stompim.cluster import RedisBridge
from stompim.cluster.metrics import BridgeCollector, QueueCollector
from stompim.cluster.queues import QueueSettings, StreamQueues
from stompim.config import Config, secret_configured
from stompim.forwarded import TrustedProxies
from stompim.im.presence import PresenceTracker
from stompim.im.presence_events import PresenceAnnouncer
from stompim.im.services import ImServices, build_services
from stompim.metrics import NodeRegistry, OutcomeCounters
from stompim.stomp import (
    AccountAuthenticator,
    ChatDestinationHandler,
    StompPublisher,
    TypingDestinationHandler,
)
from stompim.stomp.session_check import SessionCheck
from stompim.store import (
    Database,
    KeyValue,
    KvSettings,
    Timeouts,
    migrate,
    open_database,
    open_kv,
)
from stompim.store.friends import FriendRepository
from stompim.store.metrics import DatabaseCollector
from stompim.store.node_secret import resolve_jwt_secret

log = logging.getLogger(__name__)


@dataclass
class Ports:
    """The ports actually bound (useful when the config asked for port 0)."""

    http: int = 0
    ws: int = 0
    tcp: int = 0


class Node:
    """One stompim process: REST, STOMP over WebSocket and STOMP over TCP on one loop."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.ports = Ports()
        self.services: ImServices | None = None
        self.broker: Broker | None = None
        self.bridge: RedisBridge | None = None
        self.queues: StreamQueues | None = None
        self.presence: PresenceTracker | None = None
        self.session_check: SessionCheck | None = None
        self.announcer: PresenceAnnouncer | None = None
        self.metrics: NodeRegistry | None = None
        self.stomp_endpoints: StompEndpoints | None = None
        self._stack = contextlib.AsyncExitStack()

    @property
    def node_id(self) -> str:
        return self.config.server.node_id or f"{socket.gethostname()}-{os.getpid()}"

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise

    async def _start(self) -> None:
        cfg = self.config
        cfg.validate()
        configured = cfg.auth.jwt_secret if secret_configured(cfg.auth.jwt_secret) else ""
        secret = resolve_jwt_secret(configured, cfg.database.url)
        if secret != cfg.auth.jwt_secret:   # generated (or read back): none was configured
            cfg = self.config = cfg.replace(auth={"jwt_secret": secret})
        dbc, rc = cfg.database, cfg.redis
        db = await open_database(
            dbc.url,
            pool_min=dbc.pool_min,
            pool_max=dbc.pool_max,
            timeouts=Timeouts(
                connect=dbc.connect_timeout_ms / 1000,
                acquire=dbc.acquire_timeout_ms / 1000,
                query=dbc.query_timeout_ms / 1000,
            ),
        )
        self._stack.push_async_callback(db.close)
        version = await migrate(db)
        log.info("database %s at schema version %d", db.dialect, version)

        kv = await open_kv(
            rc.url,
            prefix=rc.channel_prefix,
            settings=KvSettings(
                pool_max=rc.pool_max,
                pool_timeout=rc.pool_timeout_ms / 1000,
                connect_timeout=rc.connect_timeout_ms / 1000,
                socket_timeout=rc.socket_timeout_ms / 1000,
                health_check_interval=rc.health_check_seconds,
                retry_after=rc.retry_after_ms / 1000,
            ),
        )
        self._stack.push_async_callback(kv.close)

        tracker, bridge = await self._start_cluster(kv)

        authenticator = AccountAuthenticator()
        broker = Broker(
            cfg.stomp,
            AnonymousAuthenticator(authenticator) if cfg.stomp.allow_anonymous else authenticator,
            node_id=self.node_id,
        )
        self._stack.push_async_callback(broker.close)
        self.broker = broker
        broker.add_session_listener(tracker)
        if bridge is not None:
            broker.set_bridge(bridge)
        if self.queues is not None:
            broker.set_shared_queues(self.queues, self.queues)
            self.queues.start()

        services = build_services(cfg, db, kv, StompPublisher(broker.publisher))
        authenticator.accounts = services.accounts
        broker.close_listeners.append(services.accounts.forget)
        self.services = services
        check = self.session_check = SessionCheck(
            broker, services.accounts, cfg.auth.session_check_ms / 1000
        )
        check.start()
        self._stack.push_async_callback(check.close)
        broker.add_handler(TypingDestinationHandler(services.typing))
        broker.add_handler(ChatDestinationHandler(services.chat, delivery=services.delivery))
        self._stack.callback(services.typing.close)
        await self._start_presence_events(services, kv, broker)

        await services.media.start()
        self._stack.push_async_callback(services.media.close)

        await self._start_http(services, broker)
        from stompim.http.routes.file import FILE_PATH

        services.media.links.base_url = self._media_base_url() + FILE_PATH
        reuse = cfg.server.reuse_port
        self.ports.ws = await broker.start_websocket(
            cfg.server.host, cfg.server.ws_port, cfg.server.ws_path,
            trusted_proxies=TrustedProxies.parse(cfg.server.trusted_proxies), reuse_port=reuse,
            origins=cfg.http.cors_origins,
        )
        if cfg.server.tcp_port >= 0:
            self.ports.tcp = await broker.start_tcp(
                cfg.server.host, cfg.server.tcp_port, reuse_port=reuse
            )
        log.info(   # tools read this line: keep its start as it is, add at the end
            "node %s serving REST http://%s:%d/api, STOMP ws://%s:%d%s, STOMP tcp %s, "
            "STOMP on the REST port at %s",
            self.node_id,
            cfg.server.host,
            self.ports.http,
            cfg.server.host,
            self.ports.ws,
            cfg.server.ws_path,
            self.ports.tcp or "off",
            ", ".join(cfg.http.stomp_paths) or "no path",
        )

    async def _start_cluster(self, kv: KeyValue) -> tuple[PresenceTracker, RedisBridge | None]:
        """Presence tracking (always) and, with Redis, the cluster bridge.

        Both are entered before the broker so that they close after it: the
        broker's close ends every session (the tracker hears each end) and
        flushes the bridge; then the tracker removes this node's presence
        entries; then the KV store closes.  `Broker.close()` closes the bridge
        too (idempotent).
        """
        tracker = PresenceTracker(kv, self.node_id)
        await tracker.start()
        self._stack.push_async_callback(tracker.close)
        self.presence = tracker
        if not self.config.redis.url:
            return tracker, None
        bridge = RedisBridge(
            kv, self.node_id, max_buffer_bytes=self.config.redis.bridge_buffer_bytes
        )
        await bridge.start()
        self._stack.push_async_callback(bridge.close)
        self.bridge = bridge
        rc, sc = self.config.redis, self.config.stomp
        if rc.shared_queues:   # closed after the broker: its sessions give messages back
            self.queues = await StreamQueues.open(rc.url, self.node_id, QueueSettings(
                prefix=rc.channel_prefix,
                visibility_timeout=rc.queue_visibility_timeout_ms / 1000,
                prefetch=rc.queue_prefetch,
                max_depth=sc.max_queue_depth,
                max_queues=sc.max_queues,
                max_message_bytes=sc.max_queue_bytes,
                ttl=sc.queue_message_ttl_ms / 1000,
                command_timeout=rc.socket_timeout_ms / 1000,
                connect_timeout=rc.connect_timeout_ms / 1000,
            ))
            self._stack.push_async_callback(self.queues.close)
        return tracker, bridge

    async def _start_presence_events(
        self, services: ImServices, kv: KeyValue, broker: Broker
    ) -> None:
        """Online/offline events to friends (stompim.im.presence_events): a second
        session listener beside the tracker. Entered after the broker, so it closes
        first: the sessions the broker's close ends tell friends nothing (the users'
        markers lapse; see the module)."""
        live = self.config.live
        announcer = PresenceAnnouncer(
            kv=kv,
            node_id=self.node_id,
            friends=FriendRepository(services.db),
            settings=services.presence.repo,
            publisher=services.publisher,
            debounce_ms=live.presence_debounce_ms,
            enabled=live.presence_events,
        )
        await announcer.start()
        self._stack.push_async_callback(announcer.close)
        broker.add_session_listener(announcer)
        self.announcer = announcer

    async def _start_http(self, services: ImServices, broker: Broker) -> None:
        from stompim.http import create_http_app
        from stompim.http.keys import WS_PORT

        self.metrics = metrics = self._node_metrics(services.db)
        await metrics.start()
        self._stack.push_async_callback(metrics.close)
        app = create_http_app(services, metrics=metrics)
        app[WS_PORT] = lambda: self.ports.ws
        self._add_stomp_endpoints(app, broker)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        server = self.config.server
        site = web.TCPSite(runner, server.host, server.http_port,
                           reuse_port=server.reuse_port or None)
        await site.start()
        self.ports.http = _bound_port(site)

    def _add_stomp_endpoints(self, app: web.Application, broker: Broker) -> None:
        """STOMP on the REST port at `http.stomp_paths` (raw WebSocket and SockJS), as
        Spring's `addEndpoint(...).withSockJS()`.  Its routes are public (STOMP
        authenticates); when the REST port stops, the broker drains first, so these
        sessions end like the other listeners' (the second `broker.close()` at the end
        of `stop()` returns at once)."""
        from stompim.http.api import API

        cfg = self.config
        if not cfg.http.stomp_paths:
            return
        endpoints = broker.http_endpoints(EndpointOptions(
            paths=cfg.http.stomp_paths,
            sockjs=cfg.http.sockjs,
            origins=cfg.http.cors_origins,
            max_frame_size=cfg.stomp.max_frame_size,
            sockjs_options=SockJsOptions(
                heartbeat=cfg.http.sockjs_heartbeat_ms / 1000,
                disconnect_delay=cfg.http.sockjs_disconnect_delay_ms / 1000,
                stream_bytes=cfg.http.sockjs_stream_bytes,
                max_queued_bytes=cfg.stomp.max_pending_bytes,
                max_message_size=2 * cfg.stomp.max_frame_size + 64 * 1024,
            ),
        ))
        app[API].public_routes.update(endpoints.add_routes(app))
        self.stomp_endpoints = endpoints

        async def drain(_: web.Application) -> None:
            await broker.close()

        async def cleanup(_: web.Application) -> None:
            await endpoints.close()

        app.on_shutdown.append(drain)
        app.on_cleanup.append(cleanup)

    def _node_metrics(self, db: Database) -> NodeRegistry:
        """What /metrics shows: the process-wide families and this node's collectors
        (broker, database pool, bridge)."""
        registry = NodeRegistry()
        if self.broker is not None:
            registry.add(BrokerCollector(self.broker))
            registry.count_distinct("stompim_stomp_users", self.broker.user_ids)
        registry.add(DatabaseCollector(db))
        if self.bridge is not None:
            registry.add(BridgeCollector(self.bridge))
        if self.queues is not None:
            registry.add(QueueCollector(self.queues))
        registry.add(OutcomeCounters(
            "stompim_typing_signals", "Typing signals, by what became of them",
            lambda: _unprefixed(self.services.typing.stats.metrics() if self.services else {})))
        registry.add(OutcomeCounters(
            "stompim_presence_events", "Presence changes, by what was announced",
            lambda: _unprefixed(self.announcer.stats.metrics() if self.announcer else {})))
        return registry

    def _media_base_url(self) -> str:
        """Where clients reach this node's REST port, for media links:
        `media.public_base_url`, else this listener's address."""
        configured = self.config.media.public_base_url.rstrip("/")
        if configured:
            return configured
        host = self.config.server.host
        if host in ("0.0.0.0", "::", ""):
            log.warning("media.public_base_url is empty and server.host is %r: media links "
                        "name 127.0.0.1; set media.public_base_url", host)
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.ports.http}"

    async def stop(self) -> None:
        await self._stack.aclose()


def _unprefixed(counts: dict[str, int]) -> dict[str, int]:
    """`typing_forwarded` -> `forwarded` (the stats' own names, as outcome labels)."""
    return {name.split("_", 1)[1]: value for name, value in counts.items()}


def _bound_port(site: web.TCPSite) -> int:
    server: Any = site._server  # aiohttp keeps the asyncio Server here
    for sock in server.sockets:
        return int(sock.getsockname()[1])
    return 0
