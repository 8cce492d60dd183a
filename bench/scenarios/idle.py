"""Idle sessions: N WebSocket sessions with heart-beats 10000,10000, held for a while.

Figures: the broker's RSS growth per session ((RSS after holding - RSS before) / N),
the connect rate, the generator's own CPU and RSS, and how many sessions are alive at
the end and heard from the server within the negotiated interval plus a margin.

How 50,000 sessions fit (issue 17):
- open files: the generator raises its own soft limit to the hard one and reads the
  node's; when either cannot hold N sessions the run holds as many as fit and records
  why (bench.limits says how to raise the hard limit);
- ephemeral ports: sessions are spread round-robin over loopback source addresses
  127.0.0.2, 127.0.0.3, ... (bench.sources), 10,000 per address;
- the accept queue: at most CONNECT_CONCURRENCY opens are in flight at once (workers
  pulling the next index, not N tasks), well under the listen backlog; the kernel's
  ListenOverflows/ListenDrops counters are read before and after to show none was lost;
- heart-beats: a session joins the heart-beat schedule as soon as it is CONNECTED (the
  node would otherwise close the first ones while the last are still opening), and the
  schedule sends to 1/100th of the sessions every 100 ms, so beats never burst.

Call order: `await run_idle(target, ctx)` -> result dict; sessions are closed on return.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.limits import FileLimit, missing_room, node_limit, raise_own_limit
from bench.measure import Meter, Progress, log
from bench.scenarios.generic import Ctx
from bench.sources import PER_SOURCE, pick, source_addresses, spread
from bench.targets import Target
from bench.transport import Endpoint, close_all, open_stomp
from bench.wire import StompConn, negotiated_heartbeat

HEARTBEAT = (10000, 10000)
TARGET_KB = 20.0  # issue 17: <= 20 KB of broker RSS per idle session
CONNECT_CONCURRENCY = 64  # opens in flight; asyncio's listen backlog is 100
ATTEMPTS = 3  # per session, 0.5 s apart
TICK_S = 0.1  # heart-beat schedule granularity


def defaults(ctx: Ctx) -> tuple[int, float]:
    """(sessions, hold seconds): the issue's 50,000 and 60 s; quick 1,000 and 15 s."""
    n = ctx.count or (1000 if ctx.quick else 50_000)
    hold = ctx.hold_s or (15.0 if ctx.quick else 60.0)
    return n, hold


class HeartBeats:
    """Sends one EOL to every registered session every `interval_s`, spread evenly.

    Session i belongs to slot i % slots (slots = interval / TICK_S); each tick serves one
    slot, on an absolute schedule so work done in a tick does not stretch the interval.
    Sessions may be added while `run` is going.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.slots = max(1, round(interval_s / TICK_S))
        self.conns: list[StompConn] = []
        self.sent = 0

    def add(self, conn: StompConn) -> None:
        self.conns.append(conn)

    def due(self, tick: int) -> list[StompConn]:
        """The sessions the `tick`-th tick beats for."""
        return self.conns[tick % self.slots :: self.slots]

    async def run(self, stop: asyncio.Event) -> None:
        if self.interval_s <= 0:
            return
        t0 = time.monotonic()
        tick = 0
        while not stop.is_set():
            for c in self.due(tick):
                if not c.is_closed:
                    c.send(b"\n")
                    self.sent += 1
            tick += 1
            delay = t0 + tick * TICK_S - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)


@dataclass
class Opened:
    """What opening the sessions gave: sessions, failures, and how fast."""

    conns: list[StompConn] = field(default_factory=list)
    failures: int = 0
    first_failures: list[str] = field(default_factory=list)
    retries: int = 0
    seconds: float = 0.0


async def open_sessions(
    ep: Endpoint,
    n: int,
    sources: list[str],
    on_open: Callable[[StompConn], None],
    deadline_s: float,
    progress: Progress | None = None,
    first: int = 0,
    concurrency: int = CONNECT_CONCURRENCY,
) -> Opened:
    """Open `n` CONNECTed sessions, `concurrency` at a time, the k-th from
    `pick(sources, first + k)`. Stops early at `deadline_s` or after max(100, n // 100) sessions
    failed ATTEMPTS times each."""
    out = Opened()
    give_up = max(100, n // 100)
    deadline = time.monotonic() + deadline_s
    next_i = 0
    t0 = time.perf_counter()

    async def worker() -> None:
        nonlocal next_i
        while next_i < n and out.failures < give_up and time.monotonic() < deadline:
            i = next_i
            next_i += 1
            src = pick(sources, first + i)
            for attempt in range(ATTEMPTS):
                try:
                    conn = await open_stomp(ep, HEARTBEAT, source=src, lean=True)
                except Exception as exc:   # any failed open is a failure
                    # counted and retried, never the end of the run (picows can hand back
                    # no listener for a connection dropped during its handshake)
                    if attempt + 1 < ATTEMPTS:
                        out.retries += 1
                        await asyncio.sleep(0.5)
                        continue
                    out.failures += 1
                    if len(out.first_failures) < 5:
                        out.first_failures.append(f"{src}: {type(exc).__name__}: {exc}"[:200])
                    break
                out.conns.append(conn)
                on_open(conn)
                if progress is not None:
                    progress.add(1)
                break

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, n))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for w in workers:
            w.cancel()
        close_all(out.conns)
        raise
    out.seconds = time.perf_counter() - t0
    return out


def listen_counters(path: str = "/proc/net/netstat") -> dict[str, int]:
    """The kernel's ListenOverflows and ListenDrops (whole machine; {} if unreadable)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return {}
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return {k: int(table[k]) for k in ("ListenOverflows", "ListenDrops") if k in table}
    return {}


async def run_idle(target: Target, ctx: Ctx) -> dict:
    if (ctx.workers or 1) > 1 or (ctx.generators or 1) > 1:
        from bench.scenarios.idle_split import run_idle_split

        return await run_idle_split(target, ctx)
    requested, hold = defaults(ctx)
    gen_before, gen = raise_own_limit()
    limits: dict[str, FileLimit | None] = {"generator": gen, target.name: node_limit(target.pid)}
    short = missing_room(requested, limits)
    n = requested
    if short:
        n = min(lim.room() for lim in limits.values() if lim is not None)
        log(f"  {target.name} idle: {short}")
    sources = source_addresses(n)
    ws = target.endpoint("ws")
    me = psutil.Process()
    meter = Meter(target.pid)
    await asyncio.sleep(1.0)
    meter.start()
    rss0 = meter.rss_start
    gen_rss0 = me.memory_info().rss
    listen0 = listen_counters()
    probe = await open_stomp(ws, HEARTBEAT, source=pick(sources, 0), lean=True)
    hb = negotiated_heartbeat(probe.connected_frame, HEARTBEAT)
    beats = HeartBeats(hb[0] / 1000)
    beats.add(probe)
    stop = asyncio.Event()
    beat_task = asyncio.ensure_future(beats.run(stop))
    prog = Progress(f"{target.name} idle: open {n} sessions from {len(sources)} addresses", n)
    prog.add(1)  # the probe
    opened = Opened()
    try:
        opened = await open_sessions(
            ws, n - 1, sources, beats.add,
            deadline_s=max(120.0, n / 100), progress=prog, first=1,
        )
        prog.finish()
        conns = [probe, *opened.conns]
        connect = meter.stop()
        listen1 = listen_counters()
        rss_connected = meter.rss()
        gen_rss_connected = me.memory_info().rss
        meter.start()
        start = time.monotonic()
        while (waited := time.monotonic() - start) < hold:
            await asyncio.sleep(min(10.0, hold - waited))
            alive = sum(1 for c in conns if not c.is_closed)
            log(f"  {target.name} idle: held {time.monotonic() - start:.0f}/{hold:.0f}s, "
                f"{alive}/{len(conns)} alive")
        rss_held = meter.rss()
        now = time.monotonic()
        alive = sum(1 for c in conns if not c.is_closed)
        margin = hb[1] / 1000 * 2 + 5 if hb[1] else None
        heard = (
            sum(1 for c in conns if not c.is_closed and now - c.last_rx <= margin)
            if margin
            else None
        )
        silent = sum(1 for c in conns if c.heartbeats == 0)
        stop.set()
        await beat_task
        res = meter.stop()
        gen_rss_held = me.memory_info().rss
        kb = (rss_held - rss0) / len(conns) / 1024 if conns else None
        res.update(
            {
                "connections": len(conns),
                "requested": requested,
                "limited_by": short,
                "open_file_limits": {
                    "generator_at_start": [gen_before.soft, gen_before.hard],
                    **{k: v and [v.soft, v.hard] for k, v in limits.items()},
                },
                "hold_s": hold,
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "heartbeat_negotiated_ms": list(hb),
                "source_addresses": spread(sources, n),
                "per_source_address": PER_SOURCE,
                "connect_concurrency": CONNECT_CONCURRENCY,
                "connect_s": round(opened.seconds, 2),
                "connects_per_s": round(len(opened.conns) / opened.seconds)
                if opened.seconds
                else None,
                "connect_retries": opened.retries,
                "connect_failures": opened.failures,
                "first_connect_failures": opened.first_failures,
                "listen_overflows": _delta(listen0, listen1, "ListenOverflows"),
                "listen_drops": _delta(listen0, listen1, "ListenDrops"),
                "connect_phase": connect,
                "rss_before_mb": round(rss0 / 2**20, 1),
                "rss_connected_mb": round(rss_connected / 2**20, 1),
                "rss_held_mb": round(rss_held / 2**20, 1),
                "kb_per_connection": round(kb, 2) if kb is not None else None,
                "target_kb": TARGET_KB,
                "generator_rss_mb": {
                    "before": round(gen_rss0 / 2**20, 1),
                    "connected": round(gen_rss_connected / 2**20, 1),
                    "held": round(gen_rss_held / 2**20, 1),
                },
                "generator_kb_per_connection": round(
                    (gen_rss_held - gen_rss0) / len(conns) / 1024, 2
                )
                if conns
                else None,
                "client_heartbeats_sent": beats.sent,
                "alive_at_end": alive,
                "heard_from_server_recently": heard,
                "never_heard_a_server_heartbeat": silent,
                "server_heartbeats_received": sum(c.heartbeats for c in conns),
            }
        )
        log(
            f"  {target.name} idle: {len(conns)} sessions ({res['connects_per_s']}/s), "
            f"{res['kb_per_connection']} KB/session, alive {alive}/{len(conns)}, heard {heard}, "
            f"generator {res['generator_rss_mb']['held']} MB"
        )
        return res
    finally:
        stop.set()
        if not beat_task.done():
            beat_task.cancel()
        close_all([probe, *opened.conns])
        await asyncio.sleep(1.0)


def _delta(a: dict[str, int], b: dict[str, int], key: str) -> int | None:
    return b[key] - a[key] if key in a and key in b else None
