"""/metrics: the node's counters in Prometheus text format, public, no envelope."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from conftest import RecordingPublisher, make_config

from stompim.http import create_http_app
from stompim.im.services import build_services
from stompim.store import Database, KeyValue


async def test_metrics_reports_the_given_counters_and_process_figures(
    sqlite_db: Database, memory_kv: KeyValue
) -> None:
    counters = {"connections": 3, "messages_out": 41}
    services = build_services(make_config(), sqlite_db, memory_kv, RecordingPublisher())
    app = create_http_app(services, metrics=lambda: counters)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        resp = await client.get("/metrics")  # no Authorization: the route is public
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        lines = dict(line.split(" ", 1) for line in (await resp.text()).splitlines())
        assert lines["stompim_connections"] == "3"
        assert lines["stompim_messages_out"] == "41"
        assert float(lines["process_resident_bytes"]) > 0
        counters["connections"] = 4  # read live on every scrape, not captured once
        again = await (await client.get("/metrics")).text()
        lines = dict(line.split(" ", 1) for line in again.splitlines())
        assert lines["stompim_connections"] == "4"
