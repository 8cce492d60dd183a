"""A whole node in a process of its own (`python -m stompim serve` on a SQLite file), so
the RSS a test costs it can be measured (tests/hostile, tests/media), and a sampler of
that RSS.

Call order: `node = ServedNode.start(workdir, **settings)` (settings are
`STOMPIM_<SECTION>_<KEY>` names without the prefix, lower case, e.g.
`server_tcp_port="-1"`), use `node.http` / `node.base`, `node.ws`, `node.tcp` (None
when off), `node.pid`; `with RssSampler(node.pid) as rss: ...` then `rss.peak`; finally
`node.stop()` (SIGTERM, then SIGKILL after a bound).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Self

import psutil

SECRET = "served-node-secret-of-the-memory-tests-0123"
_PORTS = re.compile(r"REST http://127\.0\.0\.1:(\d+)/api, STOMP ws://127\.0\.0\.1:(\d+)/ws, "
                    r"STOMP tcp (\d+)?")


class ServedNode:
    def __init__(self, proc: subprocess.Popen[str], http: int, ws: int, tcp: int | None) -> None:
        self.proc = proc
        self.http, self.ws, self.tcp = http, ws, tcp
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def _drain(self) -> None:   # keep the pipe empty so the node never blocks on logging
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if len(self.log) < 2000:
                self.log.append(line.rstrip())

    @classmethod
    def start(cls, workdir: Path, **settings: str) -> ServedNode:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOMPIM_")}
        env.update(
            STOMPIM_SERVER_HOST="127.0.0.1",
            STOMPIM_SERVER_HTTP_PORT="0",
            STOMPIM_SERVER_WS_PORT="0",
            STOMPIM_SERVER_TCP_PORT="0",
            STOMPIM_AUTH_JWT_SECRET=SECRET,
            STOMPIM_AUTH_BCRYPT_ROUNDS="4",
            STOMPIM_DATABASE_URL=f"sqlite:///{workdir / 'node.db'}",
            STOMPIM_LOG_ACCESS="false",
        )
        env.update({f"STOMPIM_{k.upper()}": v for k, v in settings.items()})
        proc = subprocess.Popen(
            [sys.executable, "-m", "stompim", "serve"], cwd=workdir, env=env,
            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            match = _PORTS.search(line)
            if match:
                tcp = int(match[3]) if match[3] else None
                return cls(proc, int(match[1]), int(match[2]), tcp)
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError(f"the node did not start: {''.join(seen)[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


class RssSampler:
    """The peak RSS of process `pid`, sampled every 5 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(0.005)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
