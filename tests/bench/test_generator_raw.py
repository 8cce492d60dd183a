"""The generator end to end against the raw ceiling server on an ephemeral port:
CONNECT, SUBSCRIBE, windowed publishing, delivery counting and latency samples."""

from __future__ import annotations

import asyncio
import time

from bench.load import Flow, Sink, publish_paced, publish_windowed, send_frame_factory, subscribe
from bench.raw_server import raw_server
from bench.transport import Endpoint, close_all, open_many, open_stomp


async def _wait_closed(conns: list) -> None:
    close_all(conns)
    await asyncio.wait_for(asyncio.gather(*(c.closed for c in conns)), 5)


async def test_windowed_publish_is_delivered_to_every_subscriber() -> None:
    async with raw_server("127.0.0.1", 0) as port:
        ep = Endpoint(f"ws://127.0.0.1:{port}/ws")
        pub = await open_stomp(ep)
        subs = await open_many(ep, 3)
        try:
            for c in subs:
                subscribe(c, "/topic/t")
            await asyncio.sleep(0.2)  # raw sends no receipts
            flow = Flow(50, per=3)
            sink = Sink(flow)
            for c in subs:
                c.on_message = sink.on_message
            await publish_windowed(pub, send_frame_factory("/topic/t", 100), flow, 500,
                                   time.monotonic() + 10)
            assert await sink.drain(1500, 5)
            assert flow.sent == 500 and sink.count == 1500
            assert len(sink.samples) == 1500 and all(0 < s < 5e9 for s in sink.samples)
            assert pub.messages == 0  # the sender never gets its own messages back
        finally:
            await _wait_closed([pub, *subs])


async def test_paced_publish_keeps_the_rate() -> None:
    async with raw_server("127.0.0.1", 0) as port:
        ep = Endpoint(f"ws://127.0.0.1:{port}/ws")
        pub, sub = await open_many(ep, 2)
        try:
            subscribe(sub, "/topic/p")
            await asyncio.sleep(0.2)
            sink = Sink()
            sub.on_message = sink.on_message
            make = send_frame_factory("/topic/p", 50)
            t0 = time.perf_counter()
            sent = await publish_paced([pub], lambda _i: make(), 1000, 0.5)
            elapsed = time.perf_counter() - t0
            assert sent == 500 and 0.4 < elapsed < 1.5
            assert await sink.drain(500, 5)
        finally:
            await _wait_closed([pub, sub])
