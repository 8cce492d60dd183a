"""A whole stompim node (REST + STOMP over WebSocket and TCP, SQLite) on a `LoopThread`,
and a tiny blocking JSON client for its REST API.

The interop tests need the real account flow (register, login, logout over
HTTP) to check what a browser front end sees; the node is built only from a
Config, like `stompim serve` does.

Call order: `FullNode(loop, db_path)`, `start()`, use `ports` / `rest()`, then
`stop()`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._loop import LoopThread

__all__ = ["FullNode"]

JWT_SECRET = "interop-secret-of-the-stompim-tests-0123456789"


class FullNode:
    def __init__(
        self,
        loop: LoopThread,
        db_path: Path,
        sections: Mapping[str, Mapping[str, Any]] | None = None,
        **overrides: Mapping[str, Any],
    ) -> None:
        """`sections` (e.g. the `node_backend` fixture: database and redis) and
        `overrides` (e.g. im={"recall_window_seconds": 1}) replace config sections."""
        self._loop = loop
        self._db_path = db_path
        self._sections = {**(sections or {}), **overrides}
        self._node: Any = None

    def start(self) -> None:
        self._loop.run(self._start(), timeout=30)

    async def _start(self) -> None:
        from stompim.app import Node
        from stompim.config import Config

        config = Config().replace(
            server={"host": "127.0.0.1", "http_port": 0, "ws_port": 0, "tcp_port": 0},
            database={"url": f"sqlite:///{self._db_path}"},
            redis={"url": ""},
            auth={"bcrypt_rounds": 4, "jwt_secret": JWT_SECRET},
        ).replace(**self._sections)
        node = Node(config)
        await node.start()
        self._node = node

    @property
    def ports(self) -> Any:
        return self._node.ports

    @property
    def services(self) -> Any:
        """The node's stompim.im.services.ImServices (to inject a clock into a service)."""
        return self._node.services

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ports.ws}{self._node.config.server.ws_path}"

    def stop(self) -> None:
        if self._node is not None:
            node, self._node = self._node, None
            self._loop.run(node.stop(), timeout=30)

    def rest(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON envelope) of one REST call."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ports.http}{path}", data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as err:
            with err:
                return err.code, json.load(err)
