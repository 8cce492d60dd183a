"""A real Prometheus (Debian's `prometheus`, 2.x) scrapes a node: its /metrics passes
`promtool check metrics` (the exposition linter), the target is up, and every query of
docs/grafana-dashboard.json is valid PromQL that Prometheus evaluates against the
node's series (the ones traffic moved return data)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from stompclient import StompClient

from stompim.app import Node
from stompim.config import Config

pytestmark = pytest.mark.slow   # Prometheus start-up and a few scrapes, ~10 s

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "passw0rd-prometheus"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    """Skip without it, or fail under STOMPIM_REQUIRE_SERVICES=1 (as tests/conftest.py's
    `unavailable`, which tests/http's own conftest shadows here)."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                  else None)
    if path is None:
        reason = f"{name} is not installed (Debian package prometheus; .ci/run installs it)"
        if os.environ.get("STOMPIM_REQUIRE_SERVICES", "") == "1":
            pytest.fail(f"{reason} (STOMPIM_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    config = Config().replace(
        server={"http_port": 0, "ws_port": 0, "tcp_port": 0, "host": "127.0.0.1"},
        database={"url": f"sqlite:///{tmp_path / 'node.db'}"}, auth={"bcrypt_rounds": 4},
    )
    node = Node(config)
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


@contextlib.asynccontextmanager
async def prometheus(tmp_path: Path, target: int) -> AsyncIterator[str]:
    """A Prometheus scraping 127.0.0.1:`target` every second; yields its base URL."""
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: stompim\n    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        _binary("prometheus"), f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
        stdout=log, stderr=log,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


async def query(session: aiohttp.ClientSession, base: str, expr: str) -> list[Any]:
    async with session.get(f"{base}/api/v1/query", params={"query": expr}) as resp:
        answer = await resp.json()
    assert answer["status"] == "success", (expr, answer)
    result: list[Any] = answer["data"]["result"]
    return result


async def until_value(session: aiohttp.ClientSession, base: str, expr: str,
                      seconds: float = 30) -> list[Any]:
    """Query until `expr` has a result (Prometheus answers 503 while starting)."""
    async with asyncio.timeout(seconds):
        while True:
            with contextlib.suppress(aiohttp.ClientError, AssertionError):
                result = await query(session, base, expr)
                if result:
                    return result
            await asyncio.sleep(0.2)


def dashboard_queries() -> list[str]:
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    return [
        target["expr"].replace("$__rate_interval", "30s").replace("$instance", ".*")
        for panel in dashboard["panels"] for target in panel["targets"]
    ]


async def test_prometheus_scrapes_a_node_and_evaluates_the_dashboard(
    node: Node, tmp_path: Path
) -> None:
    base_url = f"http://127.0.0.1:{node.ports.http}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base_url}/metrics") as resp:
            text = await resp.read()
        lint = await asyncio.create_subprocess_exec(
            _binary("promtool"), "check", "metrics", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        said, _ = await asyncio.wait_for(lint.communicate(text), 30)
        assert lint.returncode == 0 and not said, said.decode()   # no lint complaint

        async with prometheus(tmp_path, node.ports.http) as prom:
            # traffic while Prometheus scrapes: an account, a session, a few SENDs
            async with session.post(f"{base_url}/api/user/register",
                                    json={"username": "prom", "password": PASSWORD}) as resp:
                assert (await resp.json())["code"] == 200
            client = await StompClient.tcp(node.ports.tcp)
            try:
                await client.send_frame("CONNECT", {"accept-version": "1.2", "host": "x",
                                                    "login": "prom", "passcode": PASSWORD})
                assert (await client.frame()).command.value == "CONNECTED"
                await client.send_frame("SUBSCRIBE", {"id": "1", "destination": "/topic/p"})
                up = await until_value(session, prom, 'up{job="stompim"} == 1')
                assert up
                for n in range(5):
                    await client.send_frame("SEND", {"destination": "/topic/p",
                                                     "receipt": f"r{n}"},
                                            orjson.dumps({"n": n}))
                    await client.answer(f"r{n}")
                sessions = await until_value(
                    session, prom, 'sum by (transport) (stompim_stomp_sessions{transport="tcp"})'
                    " == 1")
                assert sessions
                # a scrape after the SENDs, then every dashboard query evaluates
                await until_value(session, prom,
                                  'stompim_stomp_frames_received_total{command="SEND"} == 5')
                empty = []
                for expr in dashboard_queries():
                    if not await query(session, prom, expr):
                        empty.append(expr)
                # the SEND latency and frame rates moved, so those panels have data
                moved = [e for e in dashboard_queries()
                         if "send_delivery" in e or "frames_received" in e]
                assert moved and not set(moved) & set(empty), empty
            finally:
                await client.close()
