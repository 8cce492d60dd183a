"""A real stompim Broker (TCP + WebSocket listeners) on a `LoopThread`.

Tests talk to it only through sockets, like any third-party client would.  The
broker gets a `StaticAuthenticator` with the `USERS` table, so clients log in
with ``login``/``passcode``.

Call order: `start()` (ports 0 -> ephemeral; the bound ports are then in
`tcp_port` / `ws_port`), optionally `restart()` (close, then a brand-new Broker
on the SAME ports — what a client sees as a server restart), then `stop()`.
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

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.ws_port}{WS_PATH}"

    def start(self) -> None:
        self._loop.run(self._start(self.tcp_port, self.ws_port))

    async def _start(self, tcp_port: int, ws_port: int) -> None:
        # Imported here so a half-written broker fails these tests at setup, with
        # the import error, instead of breaking collection of the whole suite.
        from stompim.broker import Broker
        from stompim.broker.auth import StaticAuthenticator
        from stompim.config import Config

        cfg = Config().replace(stomp=self._stomp) if self._stomp else Config()
        broker = Broker(cfg.stomp, StaticAuthenticator(USERS), node_id="interop")
        try:
            self.tcp_port = await broker.start_tcp(HOST, tcp_port)
            self.ws_port = await broker.start_websocket(HOST, ws_port, WS_PATH)
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
