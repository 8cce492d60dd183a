"""Fixtures: a Broker on 127.0.0.1 and client openers.

Each broker listens on TCP, on WebSocket with the fast path, on WebSocket with
websockets' public API, and on an aiohttp app's `/ws` as the REST port serves it
(stompim.broker.http_endpoints; port 0 each); the `transport` fixture runs a test over
all four: "tcp", "ws" (fast path), "ws-public" and "http-ws".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from stompclient import StompClient

from stompim.broker import Broker, StaticAuthenticator
from stompim.broker.http_endpoints import EndpointOptions
from stompim.config import Config

USERS = {"alice": (1, "pa"), "bob": (2, "pb"), "carol": (3, "pc")}
TRANSPORTS = ["tcp", "ws", "ws-public", "http-ws"]


class Harness:
    """A running broker plus the clients opened through it (closed at teardown)."""

    def __init__(self, broker: Broker, tcp_port: int, ws_port: int, ws_public_port: int,
                 http_port: int = 0) -> None:
        self.broker = broker
        self.tcp_port = tcp_port
        self.ws_port = ws_port
        self.ws_public_port = ws_public_port
        self.http_port = http_port
        self.clients: list[StompClient] = []

    def port(self, transport: str) -> int:
        return {"tcp": self.tcp_port, "ws": self.ws_port,
                "ws-public": self.ws_public_port, "http-ws": self.http_port}[transport]

    async def open(self, transport: str = "tcp", **kwargs: Any) -> StompClient:
        kind = "tcp" if transport == "tcp" else "ws"
        client = await StompClient.open(kind, self.port(transport), **kwargs)
        self.clients.append(client)
        return client

    async def connected(self, transport: str = "tcp", login: str = "alice",
                        passcode: str | None = None, **kwargs: Any) -> StompClient:
        client = await self.open(transport)
        reply = await client.connect(login, passcode or USERS[login][1], **kwargs)
        assert reply.command.value == "CONNECTED", reply
        return client


async def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Poll `condition` (bounded) for state that settles after a socket event."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - a bounded wait on state, not an ordering sleep
            await asyncio.sleep(0.01)


BrokerFactory = Callable[..., Awaitable[Harness]]


async def serve_http(broker: Broker) -> tuple[web.AppRunner, int]:
    """STOMP at /ws (and SockJS) on an aiohttp app, as the REST port serves it."""
    app = web.Application()
    endpoints = broker.http_endpoints(EndpointOptions(
        paths=("/ws",), max_frame_size=broker.config.max_frame_size))
    endpoints.add_routes(app)

    async def cleanup(_: web.Application) -> None:
        await endpoints.close()

    app.on_cleanup.append(cleanup)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server: Any = site._server
    return runner, int(server.sockets[0].getsockname()[1])


@pytest.fixture
async def make_broker() -> AsyncIterator[BrokerFactory]:
    made: list[Harness] = []
    runners: list[web.AppRunner] = []

    async def factory(**stomp: Any) -> Harness:
        settings = {"heartbeat_send_ms": 0, "heartbeat_receive_ms": 0}
        settings.update(stomp)
        config = Config().replace(stomp=settings).stomp
        broker = Broker(config, StaticAuthenticator(USERS), node_id="t")
        tcp_port = await broker.start_tcp("127.0.0.1", 0)
        ws_port = await broker.start_websocket("127.0.0.1", 0, "/ws", fast_path=True)
        ws_public_port = await broker.start_websocket("127.0.0.1", 0, "/ws", fast_path=False)
        runner, http_port = await serve_http(broker)
        runners.append(runner)
        harness = Harness(broker, tcp_port, ws_port, ws_public_port, http_port)
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        for client in harness.clients:
            await client.close()
        await harness.broker.close()
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def hub(make_broker: BrokerFactory) -> Harness:
    return await make_broker()


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)
