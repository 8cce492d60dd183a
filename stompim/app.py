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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from stompim.broker import Broker
from stompim.broker.auth import AnonymousAuthenticator, AuthenticationFailed, Principal
from stompim.broker.cluster import RedisBridge
from stompim.config import Config
from stompim.im.errors import ImError
from stompim.im.presence import PresenceTracker
from stompim.im.services import ImServices, build_services
from stompim.store import KeyValue, migrate, open_database, open_kv

log = logging.getLogger(__name__)


class AccountAuthenticator:
    """The broker's Authenticator, answered by the accounts service."""

    def __init__(self) -> None:
        self.services: ImServices | None = None

    async def authenticate(
        self, headers: Mapping[str, str], handshake_token: str | None
    ) -> Principal:
        if self.services is None:
            raise AuthenticationFailed("server is starting")
        try:
            claims = await self.services.accounts.authenticate_stomp(headers, handshake_token)
        except ImError as exc:
            raise AuthenticationFailed(exc.message) from None
        return Principal(user_id=claims.user_id, username=claims.username, token_id=claims.jti)


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
        self.presence: PresenceTracker | None = None
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
        db = await open_database(
            cfg.database.url, pool_min=cfg.database.pool_min, pool_max=cfg.database.pool_max
        )
        self._stack.push_async_callback(db.close)
        version = await migrate(db)
        log.info("database %s at schema version %d", db.dialect, version)

        kv = await open_kv(cfg.redis.url, prefix=cfg.redis.channel_prefix)
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

        services = build_services(cfg, db, kv, broker.publisher)
        authenticator.services = services
        self.services = services
        self._register_handlers(broker, services)

        await self._start_http(services)
        self.ports.ws = await broker.start_websocket(
            cfg.server.host, cfg.server.ws_port, cfg.server.ws_path
        )
        if cfg.server.tcp_port >= 0:
            self.ports.tcp = await broker.start_tcp(cfg.server.host, cfg.server.tcp_port)
        log.info(
            "node %s serving REST http://%s:%d/api, STOMP ws://%s:%d%s, STOMP tcp %s",
            self.node_id,
            cfg.server.host,
            self.ports.http,
            cfg.server.host,
            self.ports.ws,
            cfg.server.ws_path,
            self.ports.tcp or "off",
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
        bridge = RedisBridge(kv, self.node_id)
        await bridge.start()
        self._stack.push_async_callback(bridge.close)
        self.bridge = bridge
        return tracker, bridge

    def _register_handlers(self, broker: Broker, services: ImServices) -> None:
        """Plug the IM chat destinations into the broker when the chat domain is present."""
        chat = getattr(services, "chat", None)
        if chat is None:
            return
        from stompim.im.chat_handler import ChatDestinationHandler

        broker.add_handler(ChatDestinationHandler(services))

    async def _start_http(self, services: ImServices) -> None:
        from stompim.http import create_http_app
        from stompim.http.keys import WS_PORT

        broker = self.broker
        app = create_http_app(services, metrics=(lambda: broker.metrics) if broker else None)
        app[WS_PORT] = lambda: self.ports.ws
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, self.config.server.host, self.config.server.http_port)
        await site.start()
        self.ports.http = _bound_port(site)

    async def stop(self) -> None:
        await self._stack.aclose()


def _bound_port(site: web.TCPSite) -> int:
    server: Any = site._server  # aiohttp keeps the asyncio Server here
    for sock in server.sockets:
        return int(sock.getsockname()[1])
    return 0
