"""A real S3-compatible HTTP server for the tests: moto's server mode on a loopback port.

MinIO is on neither PyPI nor Debian, so the S3 store is tested against moto's
standalone server (`moto[server]`, in the `test` extra), spoken to through the
same aiobotocore client code a node uses against MinIO or AWS. The server is a
subprocess the tests start and stop themselves; each test gets a bucket of its own.

Call order: `server = S3Server.start()`, `server.endpoint`, `server.media_config(...)`,
then `server.stop()`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ACCESS_KEY = "stompim-test-access"
SECRET_KEY = "stompim-test-secret-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def moto_command() -> list[str] | None:
    """The moto server launcher of this interpreter's environment, if installed."""
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script)]
    found = shutil.which("moto_server")
    return [found] if found else None


class S3Server:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, command: list[str], log: Path, timeout: float = 30.0) -> S3Server:
        port = _free_port()
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*command, "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=env,
                start_new_session=True,
            )
        server = cls(proc, port, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited {proc.returncode}: {server.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return server
            except OSError:
                time.sleep(0.05)
        server.stop()
        raise RuntimeError(f"moto_server did not listen within {timeout}s: {server.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def media_config(self, **overrides: Any) -> dict[str, Any]:
        """A `media` config section on a fresh bucket of this server."""
        return {
            "storage": "s3",
            "s3_endpoint": self.endpoint,
            "s3_region": "us-east-1",
            "s3_bucket": f"stompim-test-{uuid.uuid4().hex[:12]}",
            "s3_access_key": ACCESS_KEY,
            "s3_secret_key": SECRET_KEY,
            "s3_create_bucket": True,
            **overrides,
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
