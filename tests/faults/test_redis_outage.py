"""Two nodes on MariaDB (direct) and one Redis path through the fault proxy, which hangs
for 4 s while alice (node A) sends receipted messages to bob, who has one device on A and
one on B. What must hold (issue 9):

* local delivery and receipts go on: every send stored and answered fast, bob's device on
  A gets every message during the outage;
* REST and CONNECT answer fast: a token A verified before the outage still works (the
  token cache), one A never saw gets 503/9503 + Retry-After, or ERROR "service
  unavailable, retry" on CONNECT; /readyz names redis; /health stays 200;
* the bridge catches up: after recovery bob's device on B receives every message of the
  outage from A's retry buffer (a hung publish may arrive twice: counted by id);
* a resume (SUBSCRIBE x-since-seq) on B fills anything B missed, without a gap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import orjson
import pytest
from cluster._support import Rest, connect_stomp
from promscrape import scrape
from stompclient import StompClient

from stompim.app import Node
from stompim.frames import Command, Frame
from stompim.store import Database, KeyValue

from ._node import metered_log, node_config
from .conftest import proxied
from .proxy import Mode, TcpProxy

pytestmark = [pytest.mark.mysql, pytest.mark.redis, pytest.mark.slow]

REDIS = {"connect_timeout_ms": 300, "socket_timeout_ms": 300, "pool_timeout_ms": 500,
         "retry_after_ms": 500, "health_check_seconds": 1}
BEFORE, DURING = 10, 40
OUTAGE_SECONDS = 4.0


@dataclass
class Cluster:
    a: Node
    b: Node


@pytest.fixture
async def cluster(
    redis_proxy: TcpProxy, redis_url: str, kv_prefix: str, redis_kv: KeyValue,
    mysql_session_url: str, mysql_db: Database,
) -> AsyncIterator[Cluster]:
    """`redis_kv` shares the prefix (its teardown deletes the nodes' keys); `mysql_db`
    empties the session database."""
    url = proxied(redis_url, redis_proxy)
    nodes = []
    try:
        for node_id in ("A", "B"):
            node = Node(node_config(node_id, mysql_session_url, url, kv_prefix, redis=REDIS))
            await node.start()
            nodes.append(node)
        yield Cluster(*nodes)
    finally:
        await redis_proxy.set_mode(Mode.PASS)
        for node in reversed(nodes):
            await node.stop()


class Device:
    """A subscriber of /user/queue/chat: the message ids it saw (duplicates counted), and
    the `seq` of each (the resume cursor)."""

    def __init__(self, client: StompClient) -> None:
        self.client = client
        self.ids: list[int] = []
        self.seqs: list[int] = []
        self.arrived = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            try:
                frame = await self.client.frame(3600)
            except AssertionError:
                return
            if frame.command is Command.MESSAGE and frame.get("x-event") is None:
                self.ids.append(int(orjson.loads(frame.body)["id"]))
                self.seqs.append(int(frame.get("seq") or 0))
                self.arrived.set()

    async def has(self, wanted: set[int], seconds: float) -> float:
        """Seconds until every id of `wanted` arrived (AssertionError past `seconds`)."""
        started = time.monotonic()
        async with asyncio.timeout(seconds):
            while not wanted <= set(self.ids):
                self.arrived.clear()
                await self.arrived.wait()
        return time.monotonic() - started

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.client.close()


async def _device(port: int, token: str, label: str) -> Device:
    client = await connect_stomp(port, token)
    await client.subscribe("/user/queue/chat", label)
    return Device(client)


async def _send(client: StompClient, to_user: int, n: int) -> tuple[Frame, float]:
    started = time.monotonic()
    body = orjson.dumps({"toUserId": to_user, "content": f"m{n}", "clientMsgId": f"c{n}"})
    await client.send_frame("SEND", {"destination": "/app/chat/private", "receipt": f"r{n}"}, body)
    return await client.answer(f"r{n}"), time.monotonic() - started


async def test_local_work_goes_on_and_the_bridge_catches_up(
    cluster: Cluster, redis_proxy: TcpProxy
) -> None:
    a, b = cluster.a, cluster.b
    async with aiohttp.ClientSession() as http:
        rest_a, rest_b = Rest(http, a.ports.http), Rest(http, b.ports.http)
        alice, bob = await rest_a.user("alice"), await rest_a.user("bob")
        carol = await rest_b.user("carol")  # her token: never checked by node A
        await rest_a.befriend(alice, bob)
        await rest_a.ok("GET", "/api/user/info", token=alice[1])  # A verified alice's token
        sender = await connect_stomp(a.ports.tcp, alice[1])
        bob_a = await _device(a.ports.tcp, bob[1], "bob-a")
        bob_b = await _device(b.ports.tcp, bob[1], "bob-b")
        devices, clients = [bob_a, bob_b], [sender]
        try:
            before = [await _send(sender, bob[0], n) for n in range(BEFORE)]
            before_ids = {int(f.get("message-id") or 0) for f, _ in before}
            await bob_b.has(before_ids, 5.0)
            seen_before = max(bob_b.seqs)   # the cursor B's device had before the outage

            with metered_log() as log:
                await redis_proxy.set_mode(Mode.BLACKHOLE)
                outage_started = time.monotonic()
                during = [await _send(sender, bob[0], n) for n in range(BEFORE, BEFORE + DURING)]
                assert all(f.command is Command.RECEIPT and f.get("message-id") for f, _ in during)
                receipt_worst = max(took for _, took in during)
                during_ids = {int(f.get("message-id") or 0) for f, _ in during}
                local = await bob_a.has(during_ids, 2.0)  # local delivery went on

                t = time.monotonic()
                status, envelope = await rest_a.call("GET", "/api/user/info", token=alice[1])
                cached_ms = (time.monotonic() - t) * 1000
                assert status == 200 and envelope["code"] == 200  # from the token cache
                t = time.monotonic()
                async with http.get(f"{rest_a.base}/api/user/info",
                                    headers={"Authorization": f"Bearer {carol[1]}"}) as resp:
                    refused = (resp.status, (await resp.json())["code"],
                               resp.headers.get("Retry-After"))
                rest_503_ms = (time.monotonic() - t) * 1000
                assert refused == (503, 9503, "1")
                t = time.monotonic()
                stranger = await _connect_error(a.ports.tcp, carol[1])
                connect_ms = (time.monotonic() - t) * 1000
                assert stranger == "service unavailable, retry"
                again = await connect_stomp(a.ports.tcp, bob[1])  # bob's token: cached
                clients.append(again)
                async with http.get(f"{rest_a.base}/readyz") as resp:
                    ready = (resp.status, (await resp.json())["message"])
                assert ready[0] == 503 and "redis" in ready[1] and "database" not in ready[1]
                async with http.get(f"{rest_a.base}/health") as resp:
                    assert resp.status == 200
                assert time.monotonic() - outage_started < OUTAGE_SECONDS
                await asyncio.sleep(OUTAGE_SECONDS - (time.monotonic() - outage_started))
                # /metrics tells an operator what happened (publishes time out in 300 ms)
                seen = await scrape(http, a.ports.http)
                assert seen.value("stompim_bridge_up") == 0
                assert seen.value("stompim_bridge_buffer_bytes") > 0
                assert seen.value("stompim_bridge_backlog_seconds") > 1.0
                assert seen.value("stompim_bridge_dropped_total") == 0
                assert seen.total("stompim_dependency_unavailable_total", dependency="redis") > 0
                assert seen.value("stompim_http_errors_total", code="9503") > 0
                assert seen.total("stompim_stomp_send_receipt_seconds_count") >= BEFORE + DURING

                await redis_proxy.set_mode(Mode.PASS)
                catch_up = await bob_b.has(during_ids, 15.0)
                healed = await scrape(http, a.ports.http)
                assert healed.value("stompim_bridge_up") == 1
                assert healed.value("stompim_bridge_buffer_bytes") == 0
                assert healed.value("stompim_bridge_backlog_seconds") == 0
            doubled = len(bob_b.ids) - len(set(bob_b.ids))

            # a resume on B from the last seq it had before the outage: nothing missing
            resumer = await connect_stomp(b.ports.tcp, bob[1])
            clients.append(resumer)
            await resumer.send_frame("SUBSCRIBE", {"destination": "/user/queue/chat", "id": "r",
                                             "x-since-seq": str(seen_before)})
            replayed = [int(orjson.loads((await resumer.frame()).body)["id"])
                        for _ in range(DURING)]
            assert replayed == sorted(during_ids)
            assert log.bytes < 20_000, log.lines[:20]
            print(
                f"\n[redis hung {OUTAGE_SECONDS:.0f} s] {DURING} sends, all stored; slowest "
                f"receipt {receipt_worst * 1000:.0f} ms; local delivery {local * 1000:.0f} ms; "
                f"REST with a cached token {cached_ms:.0f} ms, 503 for an unknown one in "
                f"{rest_503_ms:.0f} ms; CONNECT refused in {connect_ms:.0f} ms; bridge caught "
                f"up {catch_up:.2f} s after recovery ({doubled} delivered twice); resume "
                f"replayed {len(replayed)}; log {log.bytes} bytes in {log.records} records"
            )
            assert receipt_worst < 1.0
        finally:
            for device in devices:
                await device.close()
            for client in clients:
                await client.close()


async def _connect_error(port: int, token: str) -> str:
    client = await StompClient.tcp(port)
    try:
        await client.send_frame("CONNECT", {"accept-version": "1.2", "host": "localhost",
                                      "Authorization": f"Bearer {token}"})
        frame = await client.frame()
        assert frame.command is Command.ERROR, frame
        return frame.get("message") or ""
    finally:
        await client.close()
