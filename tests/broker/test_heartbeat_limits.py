"""Heart-beats both ways, and the slow-consumer cap."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from stompclient import StompClient

from .conftest import BrokerFactory, Harness, wait_for


async def test_server_sends_heartbeats(make_broker: BrokerFactory, transport: str) -> None:
    hub = await make_broker(heartbeat_send_ms=50, heartbeat_receive_ms=0)
    client = await hub.open(transport)
    reply = await client.connect("alice", "pa", heart_beat="0,50")
    assert reply.get("heart-beat") == "50,0"
    raw = b""
    async with asyncio.timeout(2):
        while raw.count(b"\n") < 4:
            data = await client._read()
            assert data is not None
            raw += data
    assert set(raw) == {ord("\n")}


async def test_no_heartbeats_when_client_does_not_want_them(make_broker: BrokerFactory) -> None:
    hub = await make_broker(heartbeat_send_ms=30, heartbeat_receive_ms=0)
    client = await hub.open()
    await client.connect("alice", "pa", heart_beat="0,0")
    try:
        async with asyncio.timeout(0.3):
            data = await client._read()
        raise AssertionError(f"unexpected bytes {data!r}")
    except TimeoutError:
        pass


async def test_silent_client_is_closed(make_broker: BrokerFactory, transport: str) -> None:
    hub = await make_broker(heartbeat_send_ms=0, heartbeat_receive_ms=100,
                            heartbeat_grace_ms=100)
    silent = await hub.open(transport)
    await silent.connect("alice", "pa", heart_beat="100,0")
    beating = await hub.open(transport)
    await beating.connect("bob", "pb", heart_beat="100,0")
    started = time.monotonic()

    async def beat() -> None:
        for _ in range(12):
            await beating.send_raw(b"\n")
            await asyncio.sleep(0.05)

    beater = asyncio.create_task(beat())
    frames = await silent.closed(timeout=2)
    elapsed = time.monotonic() - started
    assert frames and frames[-1].command.value == "ERROR"
    assert 0.15 <= elapsed < 1.5
    await beater
    # the client that kept beating is still connected
    await beating.send("/topic/x", b"", receipt="alive")


async def _slow_reader(hub: Harness, transport: str) -> StompClient:
    """A client with a 4 KiB receive buffer that is never read from: a consumer that
    does not keep up."""
    if transport == "tcp":
        return await hub.open("tcp", rcvbuf=4096)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", hub.port(transport)))
    client = await StompClient.websocket(hub.port(transport), sock=sock, max_queue=2)
    hub.clients.append(client)
    return client


@pytest.mark.parametrize("transport", ["tcp", "http-ws"])
async def test_slow_consumer_disconnected(make_broker: BrokerFactory, transport: str) -> None:
    hub = await make_broker(max_pending_bytes=64 * 1024)
    slow = await _slow_reader(hub, transport)
    await slow.connect("bob", "pb")
    await slow.subscribe("/topic/flood")
    fast = await hub.connected("tcp", "carol")
    await fast.subscribe("/topic/flood")
    sender = await hub.connected("tcp", "alice")
    body = b"x" * 8192
    assert len(hub.broker.sessions) == 3
    for _i in range(400):    # ~3.2 MB: far more than the socket buffers plus the cap
        await sender.send("/topic/flood", body)
        got = await fast.frame()
        assert got.body == body
        if hub.broker.user_session_count(2) == 0:
            break
    await wait_for(lambda: hub.broker.user_session_count(2) == 0)
    assert sum(hub.broker.stats.slow_consumer_drops.values()) == 1
    await sender.send("/topic/flood", b"still", receipt="ok")
    assert (await fast.frame()).body == b"still"


async def test_metrics(make_broker: BrokerFactory) -> None:
    hub = await make_broker()
    client = await hub.connected()
    await client.subscribe("/topic/m")
    await client.send("/topic/m", b"abc")
    await client.frame()
    metrics = hub.broker.metrics
    assert metrics["connections"] == 1 and metrics["sessions"] == 1
    assert metrics["messages_in"] == 1 and metrics["messages_out"] == 1
    assert metrics["bytes_in"] > 0 and metrics["bytes_out"] > 0


@pytest.mark.parametrize("transport", ["tcp", "http-ws"])
async def test_flooding_publisher_is_throttled_not_consumer_dropped(
        make_broker: BrokerFactory, transport: str) -> None:
    """A reading consumer survives a publisher that writes as fast as it can:
    the publisher is paused while the consumer's buffer drains (over the REST port's
    WebSocket too, where aiohttp's drain tells the broker)."""
    hub = await make_broker(max_pending_bytes=64 * 1024)
    consumer = await hub.connected(transport, "bob")
    await consumer.subscribe("/topic/flood")
    producer = await hub.connected("tcp", "alice")
    frame = b"SEND\ndestination:/topic/flood\n\n" + b"y" * 200 + b"\x00"
    total = 6000

    async def flood() -> None:
        for _ in range(total // 200):
            await producer.send_raw(frame * 200)

    task = asyncio.create_task(flood())
    received = 0
    async with asyncio.timeout(20):
        while received < total:
            await consumer.frame()
            received += 1
    await task
    assert hub.broker.user_session_count(2) == 1
