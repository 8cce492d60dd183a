"""A real stompim Broker (TCP + WebSocket listeners) on a `LoopThread`.

Tests talk to it only through sockets, like any third-party client would.  The
broker gets a `StaticAuthenticator` with the `USERS` table, so clients log in
with ``login``/``passcode``.

The broker listens for WebSocket twice: `ws_port` serves the fast path,
`ws_public_port` websockets' public API path (stompim.broker.websocket); both must
pass the same tests.  `ws_transport` ("ws" or "ws-public") picks the one `ws_url`
names.

Call order: `start()` (ports 0 -> ephemeral; the bound ports are then in
`tcp_port` / `ws_port` / `ws_public_port`), optionally `restart()` (close, then a
brand-new Broker on the SAME ports — what a client sees as a server restart), then
`stop()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._loop import LoopThread

__all__ = ["USERS", "WS_PATH", "BrokerRunner"]

WS_PATH = "/ws"
HOST = "127.0.0.1"

USERS: dict[str, tuple[int, str]] = {
    "alice": (1, "alice-secret"),
    "bob": (2, "bob-secret"),
    "carol": (3, "carol-secret"),
}


class BrokerRunner:
    def __init__(self, loop: LoopThread, stomp: Mapping[str, Any] | None = None) -> None:
        self._loop = loop
        self._stomp = dict(stomp or {})
        self._broker: Any = None
        self.tcp_port = 0
        self.ws_port = 0
        self.ws_public_port = 0
        self.ws_transport = "ws"

    def port(self, transport: str) -> int:
        return {"tcp": self.tcp_port, "ws": self.ws_port,
                "ws-public": self.ws_public_port}[transport]

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port(self.ws_transport)}{WS_PATH}"

    def start(self) -> None:
        self._loop.run(self._start(self.tcp_port, self.ws_port, self.ws_public_port))

    async def _start(self, tcp_port: int, ws_port: int, ws_public_port: int) -> None:
        # Imported here so a half-written broker fails these tests at setup, with
        # the import error, instead of breaking collection of the whole suite.
        from stompim.broker import Broker
        from stompim.broker.auth import StaticAuthenticator
        from stompim.config import Config

        cfg = Config().replace(stomp=self._stomp) if self._stomp else Config()
        broker = Broker(cfg.stomp, StaticAuthenticator(USERS), node_id="interop")
        try:
            self.tcp_port = await broker.start_tcp(HOST, tcp_port)
            self.ws_port = await broker.start_websocket(HOST, ws_port, WS_PATH, fast_path=True)
            self.ws_public_port = await broker.start_websocket(
                HOST, ws_public_port, WS_PATH, fast_path=False)
        except BaseException:
            await broker.close()
            raise
        self._broker = broker

    def stop(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            self._loop.run(broker.close())

    def restart(self) -> None:
        """Close every connection and listener, then listen again on the same ports."""
        self.stop()
        self.start()
