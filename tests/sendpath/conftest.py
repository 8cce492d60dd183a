"""Fixtures of the send-path tests: an in-process node or node processes on the
`node_backend` deployments (SQLite + in-process KV; MariaDB + Redis), and accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from stompim.app import Node
from stompim.config import Config

from ._nodeproc import JWT_SECRET, NodeProcess
from ._people import Rest


@pytest.fixture
async def node(node_backend: dict[str, dict[str, str]]) -> AsyncIterator[Node]:
    config = Config().replace(
        server={"host": "127.0.0.1", "http_port": 0, "ws_port": 0, "tcp_port": 0},
        auth={"bcrypt_rounds": 4, "jwt_secret": JWT_SECRET},
    ).replace(**node_backend)
    started = Node(config)
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def processes(
    tmp_path: Path, node_backend: dict[str, dict[str, str]]
) -> AsyncIterator[Callable[..., NodeProcess]]:
    """Makes NodeProcesses on this test's backend; every one is stopped at teardown."""
    made: list[NodeProcess] = []

    def make(**overrides: Any) -> NodeProcess:
        proc = NodeProcess(tmp_path, node_backend, **overrides)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        await proc.stop()


def rest_of(http: aiohttp.ClientSession, port: int) -> Rest:
    return Rest(http, port)
