"""Generic-destination scenarios, runnable against all three targets.

- `throughput`: 1 publisher -> 1 subscriber on one topic, publisher windowed by the
  subscriber's count; msg/s from the first send to the last delivery.
- `latency`: the same pair at fixed rates (1k, 2k, 5k msg/s); p50/p99/p99.9/max of
  send -> delivery time (both ends in this process, one clock).
- `fanout`: 1 publisher -> N subscribers (200 and 1,000); deliveries/s.

Each `run_*` takes a started Target and a Ctx and returns a JSON-able dict.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from bench.load import (
    Flow,
    Overloaded,
    Sink,
    Stalled,
    publish_paced,
    publish_windowed,
    send_frame_factory,
    subscribe,
)
from bench.measure import Meter, Progress, log, percentiles
from bench.targets import Options, Target
from bench.transport import close_all, open_many, open_stomp
from bench.wire import StompConn

BODY = 100


@dataclass(frozen=True)
class Ctx:
    quick: bool = False
    transport: str = "ws"
    opts: Options = field(default_factory=Options)
    profile: bool = False
    quiet_s: float = 60.0  # anchors and chat: wait up to this long for a quiet machine
    # sizes of the scale scenarios (bench/sizes.py); None: the scenario's default
    count: int | None = None
    hold_s: float | None = None
    members: int | None = None
    online: int | None = None
    workers: int | None = None  # idle: node processes (`serve --workers`); None: one
    generators: int | None = None  # idle: generator processes; None: this one

    def quiet_wait(self) -> float:
        return 0.0 if self.quick else self.quiet_s


async def _subscribed(target: Target, ctx: Ctx, n: int, topic: str) -> list[StompConn]:
    """`n` sessions subscribed to `topic`, each confirmed by its receipt (raw: a pause)."""
    ep = target.endpoint(ctx.transport)
    prog = Progress(f"{target.name} connect {n} subscribers", n) if n > 50 else None
    subs = await open_many(ep, n, concurrency=50, progress=prog)
    if prog:
        prog.finish()
    for i, c in enumerate(subs):
        subscribe(c, topic, sub_id="s", receipt=f"sub-{i}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(c.receipts == 0 for c in subs):
        if target.name == "raw":
            await asyncio.sleep(0.3)
            break
        await asyncio.sleep(0.02)
    return subs


async def run_throughput(target: Target, ctx: Ctx, duration: float | None = None) -> dict:
    topic = f"{target.topic}.tput"
    if duration is None:
        duration = 5.0 if ctx.quick else 30.0
    total = 400_000 if ctx.quick else 2_000_000
    window = int(__import__("os").environ.get("BENCH_WINDOW", "1000"))
    ep = target.endpoint(ctx.transport)
    pub = await open_stomp(ep)
    subs = await _subscribed(target, ctx, 1, topic)
    try:
        flow = Flow(window)
        sink = Sink(flow, sample_every=10)
        subs[0].on_message = sink.on_message
        make = send_frame_factory(topic, BODY)
        # warm-up, not counted
        await publish_windowed(pub, make, flow, 5000, time.monotonic() + 10)
        await sink.drain(5000, 10)
        flow.sent = flow.done = 0
        sink.reset()
        meter = Meter(target.pid)
        meter.start()
        prog = Progress(f"{target.name} throughput", total)
        t0 = time.perf_counter_ns()
        stalled = None
        try:
            await publish_windowed(pub, make, flow, total, time.monotonic() + duration, prog)
            await sink.drain(flow.sent, 10)
        except Stalled as exc:
            stalled = str(exc)
        res = meter.stop()
        prog.finish()
        elapsed = (sink.last_ns - t0) / 1e9 if sink.last_ns else 0.0
        res.update({
            "sent": flow.sent, "delivered": sink.count, "window": window, "body_bytes": BODY,
            "msgs_per_s": round(sink.count / elapsed) if elapsed else 0,
            "latency_under_load": percentiles(sink.samples),
            "lost": flow.sent - sink.count,
        })
        if stalled:
            res["stalled"] = stalled
        log(f"  {target.name} throughput: {res['msgs_per_s']:,} msg/s "
            f"(gen cpu {res['generator_cpu_pct']}%, broker cpu {res['broker_cpu_pct']}%)")
        return res
    finally:
        close_all([pub, *subs])


async def run_latency(
    target: Target, ctx: Ctx, rates: tuple[int, ...] = (1000, 2000, 5000)
) -> dict:
    topic = f"{target.topic}.lat"
    duration = 5.0 if ctx.quick else 30.0
    ep = target.endpoint(ctx.transport)
    pub = await open_stomp(ep)
    subs = await _subscribed(target, ctx, 1, topic)
    out: dict = {"duration_s": duration, "body_bytes": BODY, "rates": {}}
    try:
        sink = Sink()
        subs[0].on_message = sink.on_message
        make1 = send_frame_factory(topic, BODY)

        def make(_i: int) -> bytes:
            return make1()

        await publish_paced([pub], make, 2000, 1.0)  # warm-up
        await sink.drain(2000, 5)
        for rate in rates:
            # An EOL (a STOMP heart-beat) from the silent subscriber: RabbitMQ Web-STOMP
            # (cowboy idle_timeout, 60 s) closes a WebSocket that sent nothing for a minute.
            subs[0].send(b"\n")
            sink.reset()
            meter = Meter(target.pid)
            meter.start()
            prog = Progress(f"{target.name} latency @{rate}/s", int(rate * duration))
            overloaded = None
            try:
                sent = await publish_paced(
                    [pub],
                    make,
                    rate,
                    duration,
                    prog,
                    acked=lambda: sink.count,
                    max_backlog=2 * rate,
                )
            except Overloaded as exc:
                sent, overloaded = exc.sent, str(exc)
            await sink.drain(sent, 5, max_s=30)
            res = meter.stop()
            if overloaded:
                res["overloaded"] = overloaded
            prog.finish()
            res.update({"sent": sent, "delivered": sink.count, **percentiles(sink.samples)})
            out["rates"][str(rate)] = res
            log(
                f"  {target.name} latency @{rate}/s: p50 {res.get('p50_ms')} ms, "
                f"p99 {res.get('p99_ms')} ms, max {res.get('max_ms')} ms"
            )
        return out
    finally:
        close_all([pub, *subs])


async def run_fanout(target: Target, ctx: Ctx, counts: tuple[int, ...] = (200, 1000)) -> dict:
    out: dict = {"body_bytes": BODY, "subscribers": {}}
    for n in counts:
        out["subscribers"][str(n)] = await fanout_one(target, ctx, n)
    return out


async def fanout_one(target: Target, ctx: Ctx, n: int) -> dict:
    topic = f"{target.topic}.fan{n}"
    duration = 5.0 if ctx.quick else 20.0
    window = max(20, 100_000 // n)
    total = 200_000  # bounded by the deadline in practice
    ep = target.endpoint(ctx.transport)
    pub = await open_stomp(ep)
    subs = await _subscribed(target, ctx, n, topic)
    try:
        flow = Flow(window, per=n)
        sink = Sink(flow, sample_every=7)
        for c in subs:
            c.on_message = sink.on_message
        make = send_frame_factory(topic, BODY)
        await publish_windowed(pub, make, flow, 20, time.monotonic() + 10)  # warm-up
        await sink.drain(20 * n, 10)
        flow.sent = flow.done = 0
        sink.reset()
        meter = Meter(target.pid)
        meter.start()
        prog = Progress(f"{target.name} fan-out x{n} (deliveries)")
        t0 = time.perf_counter_ns()
        stalled = None
        try:
            await publish_windowed(pub, make, flow, total, time.monotonic() + duration, prog)
            await sink.drain(flow.sent * n, 10)
        except Stalled as exc:
            stalled = str(exc)
        res = meter.stop()
        prog.finish()
        elapsed = (sink.last_ns - t0) / 1e9 if sink.last_ns else 0.0
        alive = sum(1 for c in subs if not c.is_closed)
        res.update(
            {
                "published": flow.sent,
                "deliveries": sink.count,
                "expected": flow.sent * n,
                "window_publishes": window,
                "subscribers_alive": alive,
                "deliveries_per_s": round(sink.count / elapsed) if elapsed else 0,
                "publishes_per_s": round(sink.count / n / elapsed) if elapsed else 0,
                "delivery_latency": percentiles(sink.samples),
            }
        )
        if stalled:
            res["stalled"] = stalled
        log(
            f"  {target.name} fan-out x{n}: {res['deliveries_per_s']:,} deliveries/s "
            f"(gen cpu {res['generator_cpu_pct']}%, broker cpu {res['broker_cpu_pct']}%)"
        )
        return res
    finally:
        for c in subs:
            c.on_message = None
        close_all([pub, *subs])
        await asyncio.sleep(0.5)
