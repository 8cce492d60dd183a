"""Node processes for the shared-queue tests: `python -m stompim serve` with its own
SQLite file, anonymous STOMP sessions allowed, and the test's Redis and key prefix.

`QueueNode.start()` returns once the node logged its ports; `kill()` is SIGKILL (the
node gets no chance to give anything back); `stop()` SIGTERM, then SIGKILL if needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
from promscrape import Scrape, scrape

_SERVING = re.compile(r"node (\S+) serving REST http://[^:]+:(\d+)/api, STOMP ws://[^:]+:(\d+)"
                      r"\S*, STOMP tcp (\d+)")
SECRET = "shared-queue-tests-secret-0123456789-abcdefghij"


class QueueNode:
    def __init__(self, workdir: Path, node_id: str, redis_url: str, prefix: str,
                 **settings: str) -> None:
        self.node_id = node_id
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STOMPIM_")}
        self.env.update(
            STOMPIM_SERVER_HOST="127.0.0.1", STOMPIM_SERVER_HTTP_PORT="0",
            STOMPIM_SERVER_WS_PORT="0", STOMPIM_SERVER_TCP_PORT="0",
            STOMPIM_SERVER_NODE_ID=node_id, STOMPIM_AUTH_JWT_SECRET=SECRET,
            STOMPIM_DATABASE_URL=f"sqlite:///{workdir / (node_id + '.db')}",
            STOMPIM_REDIS_URL=redis_url, STOMPIM_REDIS_CHANNEL_PREFIX=prefix,
            STOMPIM_STOMP_ALLOW_ANONYMOUS="true",
        )
        for name, value in settings.items():
            self.env[f"STOMPIM_{name.upper()}"] = value
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.http_port = self.tcp_port = 0
        self._reader: asyncio.Task[None] | None = None
        self._serving = asyncio.Event()

    async def start(self, timeout: float = 30.0) -> QueueNode:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stompim", "serve", cwd=self.workdir, env=self.env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        try:
            await asyncio.wait_for(self._serving.wait(), timeout)
        except TimeoutError:
            raise AssertionError("node did not start:\n" + "".join(self.lines[-30:])) from None
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            text = line.decode(errors="replace")
            self.lines.append(text)
            match = _SERVING.search(text)
            if match:
                self.http_port, self.tcp_port = int(match.group(2)), int(match.group(4))
                self._serving.set()

    async def metrics(self, http: aiohttp.ClientSession) -> Scrape:
        return await scrape(http, self.http_port)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 20)
            if self.proc.returncode is None:
                await self.kill()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
