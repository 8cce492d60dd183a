"""Fixtures of the interop suite.

* `loop_thread` (session): one asyncio loop in a background thread; every broker
  of the suite runs on it, the (blocking) test bodies run on the main thread.
* `broker` (per test): a fresh stompim Broker with TCP and WebSocket listeners on
  ephemeral ports, short server heart-beats (500 ms) so heart-beat tests stay
  quick; closed after the test even when it failed.
* `clients` (per test): a factory of connected stomp.py clients, all disconnected
  at teardown.
* `js_dir` (session): the Node project in js/ with its packages installed (skip,
  or fail under STOMPIM_REQUIRE_SERVICES=1, when Node or npm is missing).
* `chromium_binary` (session): path of a Chromium binary (same skip/fail rule).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ._broker import BrokerRunner
from ._loop import LoopThread
from ._node import ensure_js_project
from ._services import find_chromium, unavailable
from ._stomppy import ClientFactory

BROKER_STOMP_SETTINGS = {
    "heartbeat_send_ms": 500,
    "heartbeat_receive_ms": 500,
    "heartbeat_grace_ms": 2000,
}


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    loop = LoopThread()
    loop.start()
    yield loop
    loop.close()


@pytest.fixture
def broker(loop_thread: LoopThread) -> Iterator[BrokerRunner]:
    runner = BrokerRunner(loop_thread, BROKER_STOMP_SETTINGS)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@pytest.fixture
def clients(broker: BrokerRunner) -> Iterator[ClientFactory]:
    factory = ClientFactory(broker)
    try:
        yield factory
    finally:
        factory.close_all()


@pytest.fixture(scope="session")
def js_dir() -> Path:
    return ensure_js_project()


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    binary = find_chromium()
    if binary is None:
        unavailable("Chromium is not installed (apt-get install chromium, or set STOMPIM_CHROMIUM)")
    return binary
