"""/metrics with several worker processes (prometheus-client's multiprocess mode): two
`stompim serve` processes sharing PROMETHEUS_MULTIPROC_DIR and one SQLite file stand in
for the workers of one node.  Either worker's /metrics answers for both: the library
families (REST requests) and the broker's collected ones (sessions, connections; users
counted once however many workers hold their sessions); after one worker exits its
counters stay, its gauges go."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from promscrape import Scrape, scrape
from sendpath._nodeproc import NodeProcess
from stompclient import StompClient

pytestmark = pytest.mark.slow   # two node processes, ~10 s

PASSWORD = "passw0rd-workers"


async def until(session: aiohttp.ClientSession, port: int, name: str, value: float,
                **labels: str) -> Scrape:
    """Scrape `port` until `name{labels}` is `value` (a worker writes its snapshot once
    a second), at most 10 s."""
    async with asyncio.timeout(10):
        while True:
            got = await scrape(session, port)
            if got.value(name, **labels) == value:
                return got
            await asyncio.sleep(0.1)


async def connect(port: int) -> StompClient:
    client = await StompClient.tcp(port)
    await client.send_frame("CONNECT", {"accept-version": "1.2", "host": "stompim",
                                        "login": "worker", "passcode": PASSWORD})
    assert (await client.frame()).command.value == "CONNECTED"
    return client


async def test_each_worker_answers_for_all_workers(tmp_path: Path) -> None:
    sections = {"database": {"url": f"sqlite:///{tmp_path / 'node.db'}"}, "redis": {"url": ""}}
    shared = tmp_path / "prometheus"
    shared.mkdir()
    workers = [NodeProcess(tmp_path, sections) for _ in range(2)]
    for worker in workers:
        worker.env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    clients: list[StompClient] = []
    try:
        for worker in workers:   # one after the other: the first creates the schema
            await worker.start()
        a, b = workers
        async with aiohttp.ClientSession() as session:
            body = {"username": "worker", "password": PASSWORD}
            async with session.post(f"http://127.0.0.1:{a.http}/api/user/register",
                                    json=body) as resp:
                assert (await resp.json())["code"] == 200
            clients = [await connect(a.tcp), await connect(b.tcp)]
            for worker in workers:
                got = await until(session, worker.http, "stompim_stomp_sessions", 2,
                                  transport="tcp")
                # one user with a session on each worker: one user, not two
                got = await until(session, worker.http, "stompim_stomp_users", 1)
                assert got.value("stompim_http_requests_total", method="POST",
                                 route="/api/user/register", status="200") == 1
                assert got.has_family("stompim_stomp_frames_received_total")
            await clients.pop().close()   # b's session
            await b.terminate()
            got = await until(session, a.http, "stompim_stomp_sessions", 1, transport="tcp")
            assert got.value("stompim_stomp_connections_accepted_total", transport="tcp") == 2
            assert got.value("stompim_stomp_frames_received_total", command="CONNECT") == 2
    finally:
        for client in clients:
            await client.close()
        for worker in workers:
            await worker.stop()
