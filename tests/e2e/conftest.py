"""Fixtures of the end-to-end suite.

* `loop_thread` (session): the asyncio loop (a background thread) every node runs on;
  test bodies are blocking code, as stomp.py is threaded and STOMP.js a subprocess.
* `start_node` (per test): starts `interop._fullnode.FullNode`s on the `node_backend`
  deployment of tests/conftest.py — SQLite + in-process KV, and (markers mysql, redis)
  a fresh MariaDB database + Redis under a unique prefix — with optional config
  section overrides (`start_node(im={"recall_window_seconds": 1})`); all stopped at
  teardown, even when the test failed.
* `node`: one node with the default configuration.
* `devices`: a `Devices` owner; every stomp.py connection it opened is closed after the test.
* `js_dir` (session): the STOMP.js project of tests/interop/js, installed (skip, or fail
  under STOMPIM_REQUIRE_SERVICES=1, without Node/npm).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from interop._fullnode import FullNode
from interop._loop import LoopThread
from interop._node import ensure_js_project

from ._actors import Devices


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    loop = LoopThread("e2e-loop")
    loop.start()
    yield loop
    loop.close()


@pytest.fixture
def start_node(
    loop_thread: LoopThread, tmp_path: Path, node_backend: dict[str, dict[str, str]]
) -> Iterator[Callable[..., FullNode]]:
    started: list[FullNode] = []

    def start(**overrides: dict[str, Any]) -> FullNode:
        node = FullNode(loop_thread, tmp_path / "e2e.db", node_backend, **overrides)
        node.start()
        started.append(node)
        return node

    try:
        yield start
    finally:
        for node in reversed(started):
            node.stop()


@pytest.fixture
def node(start_node: Callable[..., FullNode]) -> FullNode:
    return start_node()


@pytest.fixture
def devices(start_node: Callable[..., FullNode]) -> Iterator[Devices]:
    """Depends on `start_node` so its connections close before any node stops."""
    owner = Devices()
    try:
        yield owner
    finally:
        owner.close_all()


@pytest.fixture(scope="session")
def js_dir() -> Path:
    return ensure_js_project()
