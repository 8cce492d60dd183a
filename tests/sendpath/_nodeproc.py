"""A stompim node as a real process (`python -m stompim serve`), for faults no
in-process node can show: SIGKILL mid-flight, SIGTERM with sends in flight.

The node is configured through `STOMPIM_*` variables only (like a deployment): the
`node_backend` sections of tests/conftest.py (SQLite file, or MariaDB + Redis), free
ports, a short bcrypt cost.  Its log (stderr) is read line by line: the start-up line
gives the bound ports, the rest is kept for the test to look at.

Call order: `NodeProcess(...)`, `await start()`, then `kill()` (SIGKILL) or
`await terminate()` (SIGTERM, returns the exit code), and `await start()` again on the
same database; `await stop()` at teardown (idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["JWT_SECRET", "NodeProcess"]

JWT_SECRET = "send-path-secret-of-the-node-process-tests-012345"
_PORTS = re.compile(r"REST http://[^:]+:(\d+)/api, STOMP ws://[^:]+:(\d+)\S*, STOMP tcp (\d+)")


class NodeProcess:
    def __init__(self, workdir: Path, sections: Mapping[str, Mapping[str, str]],
                 **overrides: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.env = dict(os.environ)
        for section, values in {**sections, **overrides}.items():
            for key, value in values.items():
                self.env[f"STOMPIM_{section.upper()}_{key.upper()}"] = str(value)
        self.env.update(
            STOMPIM_SERVER_HOST="127.0.0.1", STOMPIM_SERVER_HTTP_PORT="0",
            STOMPIM_SERVER_WS_PORT="0", STOMPIM_SERVER_TCP_PORT="0",
            STOMPIM_AUTH_JWT_SECRET=JWT_SECRET, STOMPIM_AUTH_BCRYPT_ROUNDS="4",
        )
        self.env.pop("STOMPIM_CONFIG", None)
        self.proc: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self.http = self.ws = self.tcp = 0

    async def start(self, timeout: float = 30.0) -> None:
        """Run the node; returns once it serves (its ports are then set)."""
        proc = self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stompim", "serve", cwd=self.workdir, env=self.env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        async with asyncio.timeout(timeout):
            while True:
                line = (await proc.stderr.readline()).decode(errors="replace")
                if not line:
                    raise AssertionError("the node exited:\n" + "".join(self.log[-30:]))
                self.log.append(line)
                match = _PORTS.search(line)
                if match:
                    self.http, self.ws, self.tcp = (int(g) for g in match.groups())
                    break
        self._reader = asyncio.get_running_loop().create_task(self._read(proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            self.log.append(line.decode(errors="replace"))

    async def kill(self) -> None:
        """SIGKILL: no drain, no goodbye."""
        await self._end(signal.SIGKILL)

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, and wait for the exit (bounded); the exit code."""
        return await self._end(signal.SIGTERM, timeout)

    async def _end(self, sig: int, timeout: float = 30.0) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        if proc.returncode is None:
            proc.send_signal(sig)
        async with asyncio.timeout(timeout):
            code = await proc.wait()
            if self._reader is not None:
                await self._reader
                self._reader = None
        return code

    async def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            await self.kill()
