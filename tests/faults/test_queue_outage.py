"""A shared generic queue (docs/queues.md) while the path to Redis hangs: a SEND is
refused with x-error-code 3001 and no message-id (nothing claims it was stored), the
session and the node stay up, and once Redis answers again SENDs are stored and
delivered and the ACK made during the outage reaches Redis.  (A refused SEND held in the
hung path may still be stored when the path heals: the refusal says "may not be
stored", never "stored".)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from cluster._support import eventually
from stompclient import StompClient

from stompim.app import Node
from stompim.frames import Command

from ._node import node_config
from .conftest import proxied
from .proxy import Mode, TcpProxy

pytestmark = [pytest.mark.redis]

REDIS = {"connect_timeout_ms": 300, "socket_timeout_ms": 300, "pool_timeout_ms": 500,
         "retry_after_ms": 500, "health_check_seconds": 1}


@pytest.fixture
async def node(redis_proxy: TcpProxy, redis_url: str, kv_prefix: str, redis_kv: object,
               tmp_path: Path) -> AsyncIterator[Node]:
    """`redis_kv` shares the prefix: its teardown deletes the node's keys."""
    one = Node(node_config("Q", f"sqlite:///{tmp_path / 'q.db'}", proxied(redis_url, redis_proxy),
                           kv_prefix, redis=REDIS, stomp={"allow_anonymous": True}))
    await one.start()
    try:
        yield one
    finally:
        await redis_proxy.set_mode(Mode.PASS)
        await one.stop()


async def anonymous(port: int) -> StompClient:
    client = await StompClient.tcp(port)
    assert (await client.connect(login="")).command is Command.CONNECTED
    return client


async def test_send_refused_while_redis_hangs_then_stored(
    node: Node, redis_proxy: TcpProxy, redis_url: str, kv_prefix: str
) -> None:
    assert node.ports.tcp
    producer, consumer = await anonymous(node.ports.tcp), await anonymous(node.ports.tcp)
    try:
        await consumer.subscribe("/queue/o", ack="client-individual")
        stored = await producer.send("/queue/o", b"before", receipt="r1")
        assert stored is not None and stored.get("message-id")
        first = await consumer.frame()
        assert first.body == b"before"

        await redis_proxy.set_mode(Mode.BLACKHOLE)
        await consumer.send_frame("ACK", {"id": first.get("ack") or ""})   # waits for Redis
        await producer.send_frame("SEND", {"destination": "/queue/o", "receipt": "r2"},
                                  b"during")
        refused = await producer.answer("r2", timeout=5.0)
        assert refused.command is Command.RECEIPT, refused
        assert refused.get("x-error-code") == "3001" and refused.get("message-id") is None
        assert "queue store" in (refused.get("x-error-message") or "")

        await redis_proxy.set_mode(Mode.PASS)
        attempt = 0

        async def stored_again() -> bool:   # the same session, still open
            nonlocal attempt
            attempt += 1
            await producer.send_frame("SEND", {"destination": "/queue/o",
                                               "receipt": f"a{attempt}"}, b"after")
            answer = await producer.answer(f"a{attempt}", timeout=5.0)
            return answer.get("message-id") is not None

        await eventually(stored_again, 15.0)
        # the refused SEND's bytes waited in the hung path and may have reached Redis
        # when it came back: "refused" never claimed "not stored" (docs/queues.md)
        bodies: list[bytes] = []
        while b"after" not in bodies:
            frame = await consumer.frame(timeout=10.0)
            assert frame.command is Command.MESSAGE
            bodies.append(frame.body)
            await consumer.send_frame("ACK", {"id": frame.get("ack") or "", "receipt": "ok"})
            await consumer.receipt("ok")
        assert set(bodies) <= {b"during", b"after"} and bodies.count(b"during") <= 1
        async with aioredis.Redis.from_url(redis_url) as r:
            key = f"{kv_prefix}:q:/queue/o"

            async def drained() -> bool:   # the outage's ACK was retried and landed
                return int(await r.xlen(key)) == 0

            await eventually(drained, 10.0)
    finally:
        await producer.close()
        await consumer.close()
