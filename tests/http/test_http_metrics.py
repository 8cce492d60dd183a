"""/metrics on a whole node: Prometheus text format read by prometheus_client's own parser,
every family README.md lists present with HELP and TYPE, and the counters and histograms
moving after real STOMP (TCP and WebSocket) and REST traffic, on SQLite and on
MariaDB + Redis (where the bridge's families appear too)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from promscrape import Scrape, scrape
from stompclient import StompClient

from stompim.app import Node
from stompim.broker.exchange import error_reason
from stompim.config import Config
from stompim.metrics import Buckets

README = Path(__file__).resolve().parents[2] / "README.md"
PASSWORD = "passw0rd-metrics"

def listed_metrics() -> list[str]:
    """The metric names of README.md's "Metrics" table (first column, in backticks)."""
    text = README.read_text("utf-8")
    section = text.split("\n### Metrics\n", 1)[1].split("\n#", 1)[0]
    names = re.findall(r"^\| `([a-z_]+)`", section, re.M)
    assert len(names) > 20, "README.md's metrics table not found"
    return names


class Rest:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None,
        expect: int = 200,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, self.base + path, json=body,
                                        headers=headers) as resp:
            envelope = await resp.json()
        assert envelope["code"] == expect, (method, path, envelope)
        return envelope["data"]

    async def scrape(self) -> Scrape:
        return await scrape(self.session, int(self.base.rsplit(":", 1)[1]))

    async def user(self, name: str) -> tuple[int, str]:
        created = await self.call("POST", "/api/user/register",
                                  {"username": name, "password": PASSWORD})
        login = await self.call("POST", "/api/user/login",
                                {"username": name, "password": PASSWORD})
        return int(created["id"]), login["token"]


@pytest.fixture
async def node(
    tmp_path: Path, node_backend: dict[str, dict[str, str]]
) -> AsyncIterator[Node]:
    config = Config().replace(
        server={"http_port": 0, "ws_port": 0, "tcp_port": 0, "host": "127.0.0.1"},
        auth={"bcrypt_rounds": 4, "jwt_secret": "metrics-test-secret-0123456789abcdef"},
        **node_backend,
    )
    node = Node(config)
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


async def connect(client: StompClient, token: str) -> None:
    await client.send_frame("CONNECT", {"accept-version": "1.2", "host": "stompim",
                                        "Authorization": f"Bearer {token}"})
    assert (await client.frame()).command.value == "CONNECTED"


async def test_metrics_move_with_stomp_and_rest_traffic(node: Node) -> None:
    clustered = node.bridge is not None
    async with aiohttp.ClientSession() as session:
        rest = Rest(session, f"http://127.0.0.1:{node.ports.http}")
        start = await rest.scrape()   # the REST families are process-wide: compare
        alice_id, alice = await rest.user("alice")
        bob_id, bob = await rest.user("bob")
        request = await rest.call("POST", "/api/friend/request",
                                  {"toUserId": bob_id, "message": "hi"}, alice)
        await rest.call("POST", f"/api/friend/request/{request['id']}/accept", None, bob)
        await rest.call("POST", "/api/user/login", {"username": "alice", "password": "nope1"},
                        expect=1002)
        before = await rest.scrape()

        sender = await StompClient.tcp(node.ports.tcp)
        receiver = await StompClient.websocket(node.ports.ws)
        try:
            await connect(sender, alice)
            await connect(receiver, bob)
            await receiver.send_frame("SUBSCRIBE", {"id": "t", "destination": "/topic/news",
                                                    "receipt": "s1"})
            await receiver.answer("s1")
            await sender.send_frame("SEND", {"destination": "/topic/news", "receipt": "g1"},
                                    b"hello")
            await sender.answer("g1")
            assert (await receiver.frame()).body == b"hello"
            chat = orjson.dumps({"toUserId": bob_id, "content": "hi bob"})
            await sender.send_frame("SEND", {"destination": "/app/chat/private",
                                             "receipt": "c1"}, chat)
            assert (await sender.answer("c1")).get("message-id")
            refused = orjson.dumps({"toUserId": alice_id, "content": "to myself"})
            await sender.send_frame("SEND", {"destination": "/app/chat/private",
                                             "receipt": "c2"}, refused)
            code = (await sender.answer("c2")).get("x-error-code")
            assert code is not None
            during = await rest.scrape()
        finally:
            await sender.close()
            await receiver.close()

    for name in listed_metrics():
        if name.startswith(("stompim_bridge_", "stompim_shared_queue_")) and not clustered:
            continue
        assert during.has_family(name), f"{name} (listed in README.md) not exposed"

    def moved(name: str, **labels: str) -> float:
        return during.value(name, **labels) - before.value(name, **labels)

    def since_start(name: str, **labels: str) -> float:
        return during.value(name, **labels) - start.value(name, **labels)

    assert during.value("stompim_stomp_sessions", transport="tcp") == 1
    assert during.value("stompim_stomp_sessions", transport="websocket") == 1
    assert during.value("stompim_stomp_connections", transport="websocket") == 1
    assert moved("stompim_stomp_connections_accepted_total", transport="tcp") == 1
    assert during.value("stompim_stomp_subscriptions") >= 1
    assert moved("stompim_stomp_frames_received_total", command="SEND") == 3
    assert moved("stompim_stomp_frames_received_total", command="CONNECT") == 2
    assert moved("stompim_stomp_frames_sent_total", command="CONNECTED") == 2
    assert moved("stompim_stomp_frames_sent_total", command="MESSAGE") == 1   # nobody on chat
    assert moved("stompim_stomp_frames_sent_total", command="RECEIPT") == 4
    assert moved("stompim_stomp_send_delivery_seconds_count") == 1
    assert moved("stompim_stomp_send_delivery_seconds_bucket", le="+Inf") == 1
    assert moved("stompim_stomp_send_receipt_seconds_count", outcome="stored") == 1
    assert moved("stompim_stomp_send_receipt_seconds_count", outcome="refused") == 1
    assert moved("stompim_stomp_send_receipt_seconds_sum", outcome="stored") > 0
    assert moved("stompim_stomp_refusals_total", code=code) == 1
    assert moved("stompim_stomp_bytes_received_total") > 0
    assert moved("stompim_chat_messages_stored_total") == 1
    assert moved("stompim_chat_batch_size_count") == 1
    assert moved("stompim_chat_batch_seconds_count") == 1
    backend = "mysql" if clustered else "sqlite"
    # SQLite runs a chat batch's whole transaction as one `plan` (stompim.store.plan)
    committed = "commit" if clustered else "plan"
    assert moved("stompim_db_query_seconds_count", backend=backend, operation=committed) >= 1
    assert during.value("stompim_db_connections_max", backend=backend) >= 1
    # REST: requests by route template and status, error codes, bcrypt
    assert since_start("stompim_http_requests_total", method="POST",
                       route="/api/user/login", status="200") == 2
    assert since_start("stompim_http_requests_total", method="POST",
                       route="/api/user/login", status="400") == 1
    assert since_start("stompim_http_errors_total", code="1002") == 1
    assert since_start("stompim_http_request_duration_seconds_count", method="POST",
                       route="/api/friend/request/{requestId}/accept") == 1
    assert moved("stompim_http_requests_total", method="GET", route="/metrics",
                 status="200") == 1
    assert since_start("stompim_bcrypt_queue_wait_seconds_count") == 5   # 2 hashes, 3 checks
    assert during.value("process_cpu_seconds_total") > 0
    if clustered:
        assert moved("stompim_bridge_published_records_total") >= 1


async def test_an_unmatched_path_is_one_label_and_errors_are_counted_by_reason(
    node: Node,
) -> None:
    async with aiohttp.ClientSession() as session:
        rest = Rest(session, f"http://127.0.0.1:{node.ports.http}")
        before = await rest.scrape()
        for path in ("/no/such/a", "/no/such/b"):
            async with session.get(rest.base + path) as resp:
                assert resp.status == 404
        client = await StompClient.tcp(node.ports.tcp)
        try:
            await client.send_frame("SEND", {"destination": "/topic/x"})
            assert (await client.frame()).command.value == "ERROR"
        finally:
            await client.close()
        after = await rest.scrape()
    assert "/no/such" not in after.text
    assert after.value("stompim_http_requests_total", method="GET", route="(unmatched)",
                       status="404") - before.value(
        "stompim_http_requests_total", method="GET", route="(unmatched)", status="404") == 2
    assert after.value("stompim_stomp_errors_total", reason="expected CONNECT, got SEND") == 1
    assert after.value("stompim_stomp_frames_sent_total", command="ERROR") == 1


def test_the_grafana_dashboard_reads_only_listed_families() -> None:
    dashboard = json.loads((README.parent / "docs" / "grafana-dashboard.json").read_text())
    listed = set(listed_metrics()) | {"process_cpu_seconds_total", "process_resident_memory_bytes"}
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"\b((?:stompim|process)_[a-z_]+)", target["expr"]))
    assert len(used) > 20
    unknown = sorted(name for name in used if name.removesuffix("_bucket") not in listed)
    assert not unknown, f"the dashboard reads families README does not list: {unknown}"


def test_buckets_are_cumulative_and_inclusive() -> None:
    buckets = Buckets((0.1, 1.0))
    buckets.observe(0.1)
    buckets.observe(0.5, 2)
    buckets.observe(7.0)
    assert buckets.cumulative() == [("0.1", 1.0), ("1.0", 3.0), ("+Inf", 4.0)]
    assert buckets.count == 4 and buckets.total == pytest.approx(8.1)


def test_error_reasons_leave_out_what_the_client_chose() -> None:
    assert error_reason("forbidden: /queue/chat/7 belongs to another user") == "forbidden"
    assert error_reason("unknown destination /foo/bar") == "unknown destination _"
    assert error_reason("unknown transaction 'tx-91'") == "unknown transaction _"
    assert error_reason("transaction \"a\" holds too many frames") == (
        "transaction _ holds too many frames")
