"""A node as `stompim serve` runs it: a subprocess of its own, so its RSS can be measured.

Call order: `node = ServedNode.start(workdir, **env)`, use `node.base` / `node.pid`,
then `node.stop()` (SIGTERM, then SIGKILL after a bound).
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

SECRET = "served-node-secret-of-the-media-tests-0123"


class ServedNode:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _drain(self) -> None:  # keep the pipe empty so the node never blocks on logging
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if len(self.log) < 500:
                self.log.append(line.rstrip())

    @classmethod
    def start(cls, workdir: Path, **settings: str) -> ServedNode:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOMPIM_")}
        env.update(
            STOMPIM_SERVER_HTTP_PORT="0",
            STOMPIM_SERVER_WS_PORT="0",
            STOMPIM_SERVER_TCP_PORT="-1",
            STOMPIM_AUTH_JWT_SECRET=SECRET,
            STOMPIM_AUTH_BCRYPT_ROUNDS="4",
            STOMPIM_DATABASE_URL=f"sqlite:///{workdir / 'node.db'}",
            **{f"STOMPIM_{k.upper()}": v for k, v in settings.items()},
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "stompim", "serve"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"REST http://127\.0\.0\.1:(\d+)/api", line)
            if match:
                return cls(proc, int(match[1]))
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
