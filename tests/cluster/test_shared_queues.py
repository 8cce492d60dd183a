"""Generic /queue/** shared by two real node processes over the real Redis (streams and
one consumer group): each message to exactly one consumer over both nodes, a killed
node's unacknowledged messages redelivered by the other after the visibility timeout, a
NACK crossing nodes, the queue caps and TTL, and stomp.py as a consumer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
import stomp
from stompclient import StompClient

from stompim.frames import Command, Frame

from ._queuenodes import QueueNode
from ._support import eventually
from .test_workers import _SERVING, Supervised, node_of

pytestmark = [pytest.mark.redis]

VISIBILITY_MS = "1000"


class Nodes:
    def __init__(self, tmp: Path, redis_url: str, prefix: str) -> None:
        self.tmp, self.redis_url, self.prefix = tmp, redis_url, prefix
        self.started: list[QueueNode] = []

    async def start(self, node_id: str, **settings: str) -> QueueNode:
        settings.setdefault("redis_queue_visibility_timeout_ms", VISIBILITY_MS)
        settings.setdefault("redis_queue_prefetch", "8")
        node = QueueNode(self.tmp, node_id, self.redis_url, self.prefix, **settings)
        self.started.append(node)
        return await node.start()


@pytest.fixture
async def nodes(tmp_path: Path, redis_url: str, kv_prefix: str,
                redis_kv: object) -> AsyncIterator[Nodes]:
    """`redis_kv` shares the prefix: its teardown deletes the nodes' keys."""
    group = Nodes(tmp_path, redis_url, kv_prefix)
    try:
        yield group
    finally:
        while CLIENTS:
            await CLIENTS.pop().close()
        await asyncio.gather(*(node.stop() for node in group.started))


CLIENTS: list[StompClient] = []


async def client(node: QueueNode) -> StompClient:
    c = await StompClient.tcp(node.tcp_port)
    CLIENTS.append(c)
    reply = await c.connect(login="")
    assert reply.command is Command.CONNECTED, reply
    return c


async def collect(c: StompClient, into: list[Frame], until: Callable[[], bool]) -> None:
    while not until():
        frame = await c.frame(timeout=10.0)
        assert frame.command is Command.MESSAGE, frame
        into.append(frame)


async def test_messages_spread_over_two_nodes_each_delivered_once(nodes: Nodes) -> None:
    a, b = await nodes.start("qa"), await nodes.start("qb")
    ca, cb = await client(a), await client(b)
    await ca.subscribe("/queue/work", ack="auto")
    await cb.subscribe("/queue/work", ack="client-individual")
    pa, pb = await client(a), await client(b)
    n = 300
    sent = []
    for i in range(n):
        receipt = await (pa if i % 2 else pb).send("/queue/work", f"m{i}".encode(),
                                                    receipt=f"r{i}", job=str(i))
        assert receipt is not None and receipt.get("message-id"), receipt
        sent.append(f"m{i}")
    got_a: list[Frame] = []
    got_b: list[Frame] = []
    total = lambda: len(got_a) + len(got_b) >= n  # noqa: E731
    acker = asyncio.create_task(_ack_all(cb, got_b, total))
    await asyncio.gather(collect(ca, got_a, total), acker)
    bodies = [f.body.decode() for f in got_a + got_b]
    assert sorted(bodies) == sorted(sent)          # each exactly once, over both nodes
    assert got_a and got_b                         # both nodes' consumers took some
    assert {f.get("job") for f in got_a + got_b} == {str(i) for i in range(n)}
    async with aioredis.Redis.from_url(nodes.redis_url) as r:
        key = f"{nodes.prefix}:q:/queue/work"
        async def empty() -> bool:   # every ACK reached Redis: the stream is empty
            return not await r.xlen(key)

        await eventually(empty, 10)


async def _ack_all(c: StompClient, into: list[Frame], done: Callable[[], bool]) -> None:
    while not done():
        try:
            frame = await c.frame(timeout=0.5)
        except (TimeoutError, AssertionError):
            continue
        assert frame.command is Command.MESSAGE
        into.append(frame)
        await c.send_frame("ACK", {"id": frame.get("ack") or ""})


async def _claim_passes(node: QueueNode, http: aiohttp.ClientSession) -> float:
    return (await node.metrics(http)).value("stompim_shared_queue_claim_passes_total")


async def _passes(node: QueueNode, http: aiohttp.ClientSession, more: int) -> None:
    """Until `node` made `more` lease-and-claim passes (events of the node itself)."""
    start = await _claim_passes(node, http)

    async def done() -> bool:
        return await _claim_passes(node, http) >= start + more

    await eventually(done, 20)


async def test_killed_node_unacked_messages_go_to_the_other_node(nodes: Nodes) -> None:
    a, b = await nodes.start("qa"), await nodes.start("qb")
    holder = await client(a)
    await holder.subscribe("/queue/jobs", ack="client")
    producer = await client(b)
    for i in range(5):
        await producer.send("/queue/jobs", f"job{i}".encode(), receipt=f"r{i}")
    held = await holder.messages(5)
    assert all(f.get("redelivered") is None for f in held)
    ids = {f.get("message-id") for f in held}
    other = await client(b)
    await other.subscribe("/queue/jobs", ack="client-individual")
    async with aiohttp.ClientSession() as http:
        # A is alive and holds them: B passes its claim scan several times (three
        # visibility timeouts) and takes none of them
        await _passes(b, http, 9)
    await other.no_frame(0.05)
    await a.kill()
    again = await other.messages(5, timeout=15.0)
    assert {f.get("message-id") for f in again} == ids
    assert sorted(f.body for f in again) == sorted(f.body for f in held)
    assert all(f.get("redelivered") == "true" for f in again)
    for frame in again:
        await other.send_frame("ACK", {"id": frame.get("ack") or "", "receipt": "ack"})
        await other.receipt("ack")


async def test_nack_goes_to_a_consumer_on_the_other_node(nodes: Nodes) -> None:
    a, b = await nodes.start("qa"), await nodes.start("qb")
    first = await client(a)
    await first.subscribe("/queue/n", ack="client-individual")
    producer = await client(a)
    await producer.send("/queue/n", b"only", receipt="r")
    frame = await first.frame()
    second = await client(b)
    await second.subscribe("/queue/n", ack="client-individual")
    await first.send_frame("NACK", {"id": frame.get("ack") or "", "receipt": "nack"})
    await first.receipt("nack")
    redelivered = await second.frame(timeout=10.0)
    assert redelivered.command is Command.MESSAGE and redelivered.body == b"only"
    assert redelivered.get("redelivered") == "true"
    assert redelivered.get("message-id") == frame.get("message-id")
    await second.send_frame("ACK", {"id": redelivered.get("ack") or "", "receipt": "ok"})
    await second.receipt("ok")
    await first.no_frame(0.05)


async def test_depth_and_queue_count_caps_refuse_with_error(nodes: Nodes) -> None:
    a = await nodes.start("qa", stomp_max_queue_depth="3", stomp_max_queues="2")
    p = await client(a)
    for i in range(3):
        await p.send("/queue/cap1", b"x", receipt=f"r{i}")
    await p.send_frame("SEND", {"destination": "/queue/cap1", "receipt": "over"}, b"x")
    error = await p.frame()
    assert error.command is Command.ERROR and "queue /queue/cap1 is full" in (
        error.get("message") or ""), error
    assert error.get("receipt-id") == "over"
    q = await client(a)
    await q.send("/queue/cap2", b"x", receipt="c2")
    await q.send_frame("SEND", {"destination": "/queue/cap3", "receipt": "c3"}, b"x")
    error = await q.frame()
    assert error.command is Command.ERROR and "too many queues" in (error.get("message") or "")
    consumer = await client(a)     # the node stays up and serves
    await consumer.subscribe("/queue/cap2")
    assert (await consumer.frame()).body == b"x"


async def test_ttl_drops_messages_nobody_took(nodes: Nodes) -> None:
    a = await nodes.start("qa", stomp_queue_message_ttl_ms="1000",
                          redis_queue_visibility_timeout_ms="300")
    p = await client(a)
    for i in range(3):
        await p.send("/queue/old", f"stale{i}".encode(), receipt=f"r{i}")
    async with aioredis.Redis.from_url(nodes.redis_url) as r:
        key = f"{nodes.prefix}:q:/queue/old"
        async def empty() -> bool:   # the node's sweep deletes what waited too long
            return not await r.xlen(key)

        await eventually(empty, 15)
    await p.send("/queue/old", b"fresh", receipt="fresh")
    c = await client(a)
    await c.subscribe("/queue/old")
    assert (await c.frame()).body == b"fresh"   # the stale ones are gone, not first
    async with aiohttp.ClientSession() as http:
        assert (await a.metrics(http)).value("stompim_shared_queue_expired_total") >= 3


class _Listener(stomp.ConnectionListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.frames: list[stomp.utils.Frame] = []
        self.arrived = threading.Event()

    def on_message(self, frame: stomp.utils.Frame) -> None:
        self.frames.append(frame)
        self.arrived.set()


async def test_stomppy_consumer_gets_what_a_closed_session_left(nodes: Nodes) -> None:
    """A stomp.py client (client-individual) on node B takes the messages a session on
    node A held unacknowledged when it disconnected, marked redelivered."""
    a, b = await nodes.start("qa"), await nodes.start("qb")
    leaving = await client(a)
    await leaving.subscribe("/queue/handover", ack="client-individual")
    producer = await client(a)
    for i in range(3):
        await producer.send("/queue/handover", f"h{i}".encode(), receipt=f"r{i}")
    held = await leaving.messages(3)
    conn = stomp.Connection12([("127.0.0.1", b.tcp_port)])
    listener = _Listener()
    conn.set_listener("l", listener)
    await asyncio.to_thread(conn.connect, wait=True)
    try:
        await asyncio.to_thread(conn.subscribe, "/queue/handover", "s1",
                                ack="client-individual")
        await leaving.send_frame("DISCONNECT", {"receipt": "bye"})
        await leaving.receipt("bye")

        def three() -> bool:
            while len(listener.frames) < 3:
                listener.arrived.clear()
                if len(listener.frames) >= 3:
                    break
                if not listener.arrived.wait(15):
                    return False
            return True

        assert await asyncio.to_thread(three)
        got = listener.frames
        assert sorted(f.body for f in got) == sorted(f.body.decode() for f in held)
        assert all(f.headers.get("redelivered") == "true" for f in got)
        for f in got:
            await asyncio.to_thread(conn.ack, f.headers["ack"])
    finally:
        await asyncio.to_thread(conn.disconnect)


async def test_queue_across_the_workers_of_one_node(
    tmp_path: Path, redis_url: str, kv_prefix: str, redis_kv: object
) -> None:
    """`stompim serve --workers 2`: a consumer on each worker, the producer on one; each
    message goes to one of them, once."""
    sections = {"database": {"url": f"sqlite:///{tmp_path / 'node.db'}"},
                "redis": {"url": redis_url, "channel_prefix": kv_prefix,
                          "queue_prefetch": "4"},
                "stomp": {"allow_anonymous": "true"}}
    sup = Supervised(tmp_path, sections)
    await sup.start()
    clients: list[StompClient] = []
    try:
        serving = await sup.wait_for(_SERVING, 2)
        tcp_port = int(serving[0].group(4))
        nodes = {m.group(1) for m in serving}
        by_node: dict[str, StompClient] = {}
        for _ in range(60):
            c = await StompClient.tcp(tcp_port)
            clients.append(c)
            reply = await c.connect(login="")
            node = node_of(reply.get("session") or "")
            if node in nodes and node not in by_node:
                by_node[node] = c
                if len(by_node) == 2:
                    break
        assert len(by_node) == 2, "the kernel never spread the connections"
        consumers = list(by_node.values())
        for c in consumers:
            await c.subscribe("/queue/w", ack="client-individual")
        producer = consumers[0]
        n = 40
        for i in range(n):
            await producer.send("/queue/w", f"w{i}".encode(), receipt=f"r{i}")
        got: list[list[Frame]] = [[], []]
        total = lambda: len(got[0]) + len(got[1]) >= n  # noqa: E731
        await asyncio.gather(*(_ack_all(c, got[i], total) for i, c in enumerate(consumers)))
        bodies = sorted(f.body for f in got[0] + got[1])
        assert bodies == sorted(f"w{i}".encode() for i in range(n))
        assert got[0] and got[1]
    finally:
        for c in clients:
            await c.close()
        await sup.stop()


async def test_a_consumer_that_does_not_read_holds_the_rest_in_redis(nodes: Nodes) -> None:
    """An auto-ack subscriber whose socket is not read: its node stops reading the queue
    at the session's soft limit (a quarter of stomp.max_pending_bytes) instead of
    pushing it past the hard limit (which drops the session and, with auto acks, loses
    what was pushed); the rest waits in Redis and arrives once it reads again."""
    a = await nodes.start("qa", stomp_max_pending_bytes=str(1 << 20))
    slow = await StompClient.tcp(a.tcp_port, rcvbuf=16384)
    CLIENTS.append(slow)
    assert (await slow.connect(login="")).command is Command.CONNECTED
    await slow.subscribe("/queue/slow", ack="auto")
    producer = await client(a)
    body = b"y" * 32768
    n = 200   # 6.25 MiB: six times the hard limit
    for i in range(n):
        await producer.send("/queue/slow", body, receipt=f"r{i}", n=str(i))
    async with aiohttp.ClientSession() as http:
        async def stalled() -> bool:   # the node delivered part and left the rest
            m = await a.metrics(http)
            return m.value("stompim_shared_queue_stored_total") == n and 0 < m.value(
                "stompim_shared_queue_delivered_total") < n

        await eventually(stalled, 10)
    got = await slow.messages(n, timeout=20.0)
    assert [f.get("n") for f in got] == [str(i) for i in range(n)]


async def test_send_in_a_transaction_is_stored_at_commit(nodes: Nodes) -> None:
    """A queue SEND held in a transaction is stored at COMMIT and answered before the
    COMMIT's RECEIPT; an aborted one is refused and never delivered."""
    a = await nodes.start("qa")
    p, c = await client(a), await client(a)
    await c.subscribe("/queue/tx", ack="auto")
    await p.send_frame("BEGIN", {"transaction": "t1"})
    await p.send_frame("SEND", {"destination": "/queue/tx", "transaction": "t1",
                                "receipt": "s1"}, b"kept")
    await p.send_frame("COMMIT", {"transaction": "t1", "receipt": "c1"})
    stored, committed = await p.frame(), await p.frame()
    assert stored.get("receipt-id") == "s1" and stored.get("message-id"), stored
    assert committed.get("receipt-id") == "c1"
    await p.send_frame("BEGIN", {"transaction": "t2"})
    await p.send_frame("SEND", {"destination": "/queue/tx", "transaction": "t2",
                                "receipt": "s2"}, b"dropped")
    await p.send_frame("ABORT", {"transaction": "t2", "receipt": "a2"})
    refused = await p.answer("s2")
    assert refused.get("x-error-code") and refused.get("message-id") is None, refused
    await p.receipt("a2")
    await p.send("/queue/tx", b"last", receipt="s3")
    assert [f.body for f in await c.messages(2)] == [b"kept", b"last"]
