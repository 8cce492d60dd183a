"""The web client's JavaScript modules under Node's built-in test runner (`node --test`).

* The STOMP codec and the chat state (stomp-frames.test.mjs, chat-store.test.mjs): pure,
  no node needed.
* The STOMP client (stomp-client.test.mjs) against a whole stompim node over Node's own
  WebSocket (global from Node 22; `--experimental-websocket` on Node 20): framing,
  receipts as promises, UNSUBSCRIBE, reconnect with back-off and x-since-seq after a
  network drop, heart-beat silence. The users it needs are made here over REST.

Needs Node.js >= 20 only (no npm packages).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ._fullnode import FullNode
from ._loop import LoopThread
from ._services import unavailable

pytestmark = [pytest.mark.node]

TESTS = Path(__file__).resolve().parent / "webclient"
PASSWORD = "js-passw0rd"


@pytest.fixture(scope="module")
def node_command() -> list[str]:
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js is not installed (needed for the web client's JS tests)")
    probe = subprocess.run(
        [node, "-e", "process.stdout.write(typeof WebSocket)"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    if probe.stdout == "function":
        return [node]
    flagged = subprocess.run(
        [node, "--experimental-websocket", "-e", "process.stdout.write(typeof WebSocket)"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    if flagged.stdout != "function":
        unavailable("this Node.js has no WebSocket (Node >= 20 needed)")
    return [node, "--experimental-websocket"]


def run_node_tests(command: list[str], files: Sequence[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [*command, "--test", "--test-reporter=tap", *files],
        cwd=TESTS, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **env},
    )
    report = f"node --test:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    assert done.returncode == 0, report
    passed = re.search(r"^# pass (\d+)$", done.stdout, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) > 0 and "\n# fail 0\n" in done.stdout, report


def test_codec_and_chat_state(node_command: list[str]) -> None:
    run_node_tests(node_command, ["stomp-frames.test.mjs", "chat-store.test.mjs"], {})


@pytest.fixture
def node(loop_thread: LoopThread, tmp_path: Path) -> Iterator[FullNode]:
    node = FullNode(
        loop_thread,
        tmp_path / "js.db",
        stomp={"heartbeat_send_ms": 300, "heartbeat_receive_ms": 300},
    )
    node.start()
    try:
        yield node
    finally:
        node.stop()


def _user(node: FullNode, name: str) -> tuple[int, str]:
    account = {"username": name, "password": PASSWORD}
    status, created = node.rest("POST", "/api/user/register", account)
    assert created["code"] == 200, (status, created)
    _, login = node.rest("POST", "/api/user/login", account)
    return int(created["data"]["id"]), str(login["data"]["token"])


@pytest.mark.slow
def test_stomp_client_against_a_node(node_command: list[str], node: FullNode) -> None:
    (a, token_a), (b, token_b), (c, token_c) = (_user(node, n) for n in ("jsa", "jsb", "jsc"))
    _, request = node.rest("POST", "/api/friend/request", {"toUserId": b}, token_a)
    _, accepted = node.rest(
        "POST", f"/api/friend/request/{request['data']['id']}/accept", None, token_b
    )
    assert accepted["code"] == 200, accepted
    env = {
        "STOMPIM_WS_URL": node.ws_url,
        "STOMPIM_TOKEN_A": token_a, "STOMPIM_TOKEN_B": token_b, "STOMPIM_TOKEN_C": token_c,
        "STOMPIM_USER_A": str(a), "STOMPIM_USER_B": str(b), "STOMPIM_USER_C": str(c),
    }
    run_node_tests(node_command, ["stomp-client.test.mjs"], env)
