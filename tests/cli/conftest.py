"""Fixtures of the command-line tests: a clean environment and an in-process `stompim`.

`cli` runs `stompim.cli.main(argv)` in the test's thread (it starts its own event loop,
as the real command does) in an empty working directory, with every `STOMPIM_*`
variable of the outer environment removed and the test's own set through `cli.env`;
it returns the exit code and what was printed. `loop_thread` runs whole nodes for the
tests that need a live one (interop's FullNode).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop._loop import LoopThread

from ._support import SECRET, Cli


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    kept = ("STOMPIM_TEST_", "STOMPIM_REQUIRE_SERVICES")  # the suite's own settings
    for key in list(os.environ):
        if key.startswith("STOMPIM_") and not key.startswith(kept):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    runner = Cli(capsys, monkeypatch)
    runner.env.update(
        STOMPIM_AUTH_JWT_SECRET=SECRET,
        STOMPIM_AUTH_BCRYPT_ROUNDS="4",
        STOMPIM_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
    )
    return runner


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    loop = LoopThread()
    loop.start()
    yield loop
    loop.close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound, not listening, so nobody takes it):
    a connection there is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another program (a bare listening socket) holds."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]
