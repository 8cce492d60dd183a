"""Idle connections: N WebSocket sessions with heart-beats 10000,10000, held for a while.

Measures the broker's RSS growth per connection ((RSS after holding - RSS before) / N)
and checks every session is still open at the end, and that each heard from the
server within the negotiated interval plus a margin when the server heart-beats.
The generator sends its own heart-beat (an EOL) to every session on schedule, spread
over the interval so it does not burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from bench.measure import Meter, Progress, log
from bench.scenarios.generic import Ctx
from bench.targets import Target
from bench.transport import close_all, open_many
from bench.wire import negotiated_heartbeat

HEARTBEAT = (10000, 10000)


async def _heartbeat_loop(conns: list, interval_s: float, stop: asyncio.Event) -> None:
    """Send one EOL per session every `interval_s`, a slice of the sessions per 100 ms."""
    if interval_s <= 0 or not conns:
        return
    slices = max(1, int(interval_s / 0.1))
    i = 0
    while not stop.is_set():
        part = conns[i % slices :: slices]
        for c in part:
            if not c.is_closed:
                c.send(b"\n")
        i += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def run_idle(
    target: Target, ctx: Ctx, count: int | None = None, hold_s: float | None = None
) -> dict:
    n = count or (1000 if ctx.quick else 10000)
    hold = hold_s or (15.0 if ctx.quick else 60.0)
    meter = Meter(target.pid)
    await asyncio.sleep(1.0)
    meter.start()
    rss0 = meter.rss_start
    prog = Progress(f"{target.name} idle: open {n} sessions", n)
    t0 = time.perf_counter()
    conns = await open_many(target.ws, n, heartbeat=HEARTBEAT, concurrency=100, progress=prog)
    prog.finish()
    connect_s = time.perf_counter() - t0
    stop = asyncio.Event()
    try:
        hb = negotiated_heartbeat(conns[0].connected_frame, HEARTBEAT)
        beat = asyncio.ensure_future(_heartbeat_loop(conns, hb[0] / 1000, stop))
        rss_connected = meter.rss()
        end = time.monotonic() + hold
        while time.monotonic() < end:
            await asyncio.sleep(1.0)
            alive = sum(1 for c in conns if not c.is_closed)
            prog.tick(f"held {hold - (end - time.monotonic()):.0f}/{hold:.0f}s alive {alive}")
        rss_held = meter.rss()
        now = time.monotonic()
        alive = sum(1 for c in conns if not c.is_closed)
        margin = hb[1] / 1000 * 2 + 5 if hb[1] else None
        heard = (
            sum(1 for c in conns if not c.is_closed and now - c.last_rx <= margin)
            if margin
            else None
        )
        server_beats = sum(c.heartbeats for c in conns)
        stop.set()
        await beat
        res = meter.stop()
        per_conn = (rss_held - rss0) / n
        res.update(
            {
                "connections": n,
                "hold_s": hold,
                "connect_s": round(connect_s, 2),
                "heartbeat_negotiated_ms": list(hb),
                "rss_before_mb": round(rss0 / 2**20, 1),
                "rss_connected_mb": round(rss_connected / 2**20, 1),
                "rss_held_mb": round(rss_held / 2**20, 1),
                "kb_per_connection": round(per_conn / 1024, 2),
                "alive_at_end": alive,
                "heard_from_server_recently": heard,
                "server_heartbeats_received": server_beats,
            }
        )
        log(
            f"  {target.name} idle: {n} sessions, {res['kb_per_connection']} KB/conn, "
            f"alive {alive}/{n}, heard {heard}"
        )
        return res
    finally:
        stop.set()
        close_all(conns)
        await asyncio.sleep(1.0)
