"""Idle sessions past one process's open-file limit: a node of N workers, G generators.

Why: a process holds at most its open-file hard limit of sockets (20,000 on the bench
machine, not raisable there even as root), so 50,000 sessions fit neither one node
process nor one generator process. The node is then served as `stompim serve
--workers N` (N processes of one node sharing its ports with SO_REUSEPORT, joined
through Redis), and the sessions are opened by G generator processes
(bench.idle_gen), each under its limit, each from loopback source addresses of its
own (at most PER_SOURCE sessions per address).

Figures, besides those of bench.scenarios.idle (same field names, so bench/report.py
reads them): the node's memory summed over supervisor and workers, as RSS and as PSS
(bench.node_memory), per session after subtracting the idle node's; the spread of the
sessions over the workers (established connections to the WebSocket port per
process; the kernel hashes each connection to one worker, so it is not even) with
each worker's RSS, PSS and CPU; the generators' CPU and RSS summed.
"Alive at the end" is checked on both sides: each generator counts its open sessions
and those that heard from the server within one heart-beat interval (plus the node's
sweep slack), and the node's processes still hold as many established connections.

Call order: the node is started with `node_options(opts, workers)` (bench/__main__.py
does it for `--workers`); then `await run_idle_split(target, ctx)` -> result dict;
every generator is told to close its sessions and waited for on return.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import psutil

from bench.limits import FD_RESERVE, FileLimit, node_limit, own_limit
from bench.measure import Meter, log, process_cpu
from bench.node_memory import ProcMem, per_process_delta, sessions_on, snapshot, totals
from bench.scenarios.generic import Ctx
from bench.scenarios.idle import CONNECT_CONCURRENCY, TARGET_KB, defaults, listen_counters
from bench.sources import PER_SOURCE, source_addresses
from bench.targets import PYTHON, ROOT, Options, Target

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
WORKER_HEADROOM = 0.9
"""A worker is given at most this share of its room on average: SO_REUSEPORT's hash
spreads connections only roughly evenly, and the fullest worker must still fit."""
EXCHANGE_S = 60.0  # bound on a generator's answer to `check` or `close`


def node_options(opts: Options, workers: int) -> Options:
    """Options of a node of `workers` processes (`server.workers`), joined through Redis
    under a channel prefix of this run's own when there is more than one."""
    if workers <= 1:
        return opts
    env = (
        ("STOMPIM_SERVER_WORKERS", str(workers)),
        ("STOMPIM_REDIS_URL", REDIS_URL),
        ("STOMPIM_REDIS_CHANNEL_PREFIX", f"benchidle{os.getpid()}"),
    )
    return replace(opts, extra_env=tuple(opts.extra_env) + env)


def plan_sources(shares: list[int], per_source: int = PER_SOURCE) -> list[list[str]]:
    """Loopback source addresses for each generator's share: consecutive, none shared,
    at most `per_source` sessions on each."""
    counts = [max(1, math.ceil(s / per_source)) for s in shares]
    every = source_addresses(sum(counts), per_source=1)
    out, k = [], 0
    for c in counts:
        out.append(every[k : k + c])
        k += c
    return out


def split(n: int, parts: int) -> list[int]:
    """`n` as `parts` shares differing by one at most."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def fit(requested: int, workers: int, generators: int, worker_room: int | None,
        generator_room: int) -> tuple[int, str | None]:
    """How many sessions this split can hold, and why fewer than `requested` if so."""
    why = []
    n = requested
    if generator_room * generators < n:
        n = generator_room * generators
        why.append(f"{generators} generators with room for {generator_room:,} sessions each")
    if worker_room is not None and int(worker_room * WORKER_HEADROOM) * workers < n:
        n = int(worker_room * WORKER_HEADROOM) * workers
        why.append(f"{workers} node processes with room for {worker_room:,} sessions each "
                   f"(filled to {WORKER_HEADROOM:.0%} at most: the kernel's spread is uneven)")
    if not why:
        return n, None
    return n, (f"{requested:,} sessions do not fit: " + "; ".join(why)
               + f"; ran {n:,} (raise --workers / --generators)")


@dataclass
class Generator:
    """One bench.idle_gen child and what it said."""

    index: int
    count: int
    sources: list[str]
    proc: asyncio.subprocess.Process
    said: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def tell(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(word.encode() + b"\n")
        await self.proc.stdin.drain()

    async def expect(self, event: str, timeout: float) -> dict[str, Any]:
        """The next line whose event is `event` (RuntimeError on `error` or exit)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(),
                                          max(0.1, deadline - time.monotonic()))
            if not line:
                raise RuntimeError(f"generator {self.index} exited before '{event}'")
            msg = json.loads(line)
            if msg.get("event") == "error":
                raise RuntimeError(f"generator {self.index}: {msg.get('message')}")
            if msg.get("event") == event:
                self.said[event] = msg
                return msg


async def start_generators(target: Target, shares: list[int], sources: list[list[str]],
                           concurrency: int, deadline_s: float) -> list[Generator]:
    ws = target.endpoint("ws")
    endpoint = json.dumps(asdict(ws))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    gens = []
    for i, (count, srcs) in enumerate(zip(shares, sources, strict=True)):
        proc = await asyncio.create_subprocess_exec(
            PYTHON, "-m", "bench.idle_gen", "--endpoint", endpoint, "--count", str(count),
            "--sources", ",".join(srcs), "--concurrency", str(concurrency),
            "--deadline", str(deadline_s), "--index", str(i + 1),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=sys.stderr,
            cwd=ROOT, env=env,
        )
        gens.append(Generator(i + 1, count, srcs, proc))
    await asyncio.gather(*(g.expect("ready", 60) for g in gens))
    return gens


async def stop_generators(gens: list[Generator]) -> None:
    """`close` to each, then wait; one that does not exit in EXCHANGE_S is killed."""
    for g in gens:
        if g.proc.returncode is None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await g.tell("close")
    for g in gens:
        try:
            await asyncio.wait_for(g.proc.wait(), EXCHANGE_S)
        except TimeoutError:
            g.proc.kill()
            await g.proc.wait()


async def wait_workers(pid: int, workers: int, timeout: float = 90.0) -> list[ProcMem]:
    """Until the node has `workers` worker processes (1: itself), each listening; the
    snapshot of the idle node, taken once their descriptors stop changing."""
    deadline = time.monotonic() + timeout
    last: list[int] = []
    while time.monotonic() < deadline:
        snap = snapshot(pid)
        serving = [p for p in snap if p.role != "supervisor"]
        fds = [p.fds for p in snap]
        if len(serving) == workers and fds == last:
            return snap
        last = fds
        await asyncio.sleep(1.0)
    raise RuntimeError(f"the node did not settle with {workers} worker(s) in {timeout:.0f} s")


def ws_port(target: Target) -> int:
    port = urlsplit(target.endpoint("ws").url).port
    assert port is not None
    return port


def gen_cpu(gens: list[Generator]) -> float:
    return sum(process_cpu(psutil.Process(g.proc.pid)) for g in gens if g.proc.returncode is None)


def phase(meter: Meter, gens_cpu0: float, gens: list[Generator]) -> dict[str, Any]:
    """Meter's figures with the generator children's CPU moved from `others` to the
    generator (the Meter sees only this process)."""
    res = meter.stop()
    wall = float(res["wall_s"] or 0.0)
    kids = 100 * (gen_cpu(gens) - gens_cpu0) / wall if wall else 0.0
    res["generator_cpu_pct"] = round(float(res["generator_cpu_pct"] or 0.0) + kids, 1)
    res["others_cpu_pct"] = round(max(0.0, float(res["others_cpu_pct"] or 0.0) - kids), 1)
    return res


def mb(b: float) -> float:
    return round(b / 2**20, 1)


@dataclass
class Plan:
    """What the run is asked for and what fits."""

    requested: int
    n: int
    hold: float
    workers: int
    short: str | None
    limits: list[FileLimit | None]
    concurrency: int
    deadline_s: float = 0.0


@dataclass
class Seen:
    """What the run measured, phase by phase."""

    idle: list[ProcMem]
    connected: list[dict[str, Any]]
    connect_s: float
    connect: dict[str, Any]
    listen: tuple[dict[str, int], dict[str, int]]
    opened: list[ProcMem]
    held: list[ProcMem]
    held_sessions: dict[int, int]
    checked: list[dict[str, Any]]
    held_phase: dict[str, Any]


async def run_idle_split(target: Target, ctx: Ctx) -> dict[str, Any]:
    requested, hold = defaults(ctx)
    workers = max(1, ctx.workers or 1)
    generators = max(1, ctx.generators or 1)
    assert target.pid is not None
    base = await wait_workers(target.pid, workers)
    limits = [node_limit(p.pid) for p in base if p.role != "supervisor"]
    worker_room = min((lim.room() for lim in limits if lim is not None), default=None)
    n, short = fit(requested, workers, generators, worker_room, own_limit().room())
    if short:
        log(f"  {target.name} idle: {short}")
    deadline_s = max(120.0, n / 100)  # the generators share the cores: bound by the total
    plan = Plan(requested, n, hold, workers, short, limits,
                max(4, CONNECT_CONCURRENCY // generators), deadline_s)
    shares = split(n, generators)
    gens = await start_generators(target, shares, plan_sources(shares), plan.concurrency,
                                  deadline_s)
    try:
        seen = await measure(target, gens, plan, deadline_s + 60)
        return result(target.name, gens, plan, seen)
    finally:
        await stop_generators(gens)
        await asyncio.sleep(1.0)


async def measure(target: Target, gens: list[Generator], plan: Plan,
                  connect_bound_s: float) -> Seen:
    """Idle node; `open` to every generator; connected node; hold; held node; `check`."""
    assert target.pid is not None
    await asyncio.sleep(1.0)
    idle = snapshot(target.pid)
    meter = Meter(target.pid)
    meter.start()
    cpu0 = gen_cpu(gens)
    listen0 = listen_counters()
    t0 = time.perf_counter()
    for g in gens:
        await g.tell("open")
    connected = await asyncio.gather(*(g.expect("connected", connect_bound_s) for g in gens))
    connect_s = time.perf_counter() - t0
    connect = phase(meter, cpu0, gens)
    listen1 = listen_counters()
    opened = snapshot(target.pid)
    sessions = sum(c["sessions"] for c in connected)
    log(f"  {target.name} idle: {sessions:,} sessions open in {connect_s:.1f} s "
        f"({sessions / connect_s:,.0f}/s); node {mb(totals(opened)['rss'])} MB RSS")
    meter.start()
    cpu1 = gen_cpu(gens)
    start = time.monotonic()
    while (waited := time.monotonic() - start) < plan.hold:
        await asyncio.sleep(min(10.0, plan.hold - waited))
        now = totals(snapshot(target.pid))
        log(f"  {target.name} idle: held {time.monotonic() - start:.0f}/{plan.hold:.0f}s, "
            f"node {mb(now['rss'])} MB RSS, {mb(now['pss'])} MB PSS")
    held = snapshot(target.pid)
    held_sessions = sessions_on(held, ws_port(target))
    for g in gens:
        await g.tell("check")
    checked = await asyncio.gather(*(g.expect("checked", EXCHANGE_S) for g in gens))
    held_phase = phase(meter, cpu1, gens)
    return Seen(idle, connected, connect_s, connect, (listen0, listen1), opened, held,
                held_sessions, checked, held_phase)


def result(name: str, gens: list[Generator], plan: Plan, seen: Seen) -> dict[str, Any]:
    """The result dict: bench.scenarios.idle's fields (same meaning, summed over the
    processes) and the split's own."""
    connected, checked = seen.connected, seen.checked
    sessions = sum(c["sessions"] for c in connected)
    t_idle, t_open, t_held = totals(seen.idle), totals(seen.opened), totals(seen.held)
    alive = sum(c["alive"] for c in checked)

    def heard(key: str) -> int | None:
        vals = [c[key] for c in checked]
        return None if any(v is None for v in vals) else sum(vals)

    def per_session(key: str) -> float | None:
        return round((t_held[key] - t_idle[key]) / sessions / 1024, 2) if sessions else None

    spread = per_process_delta(seen.idle, seen.held, seen.held_sessions)
    worker_sessions = [r["sessions"] for r in spread if r["role"] != "supervisor"]
    gen_rss = [sum(g.said["ready"]["rss"] for g in gens), sum(c["rss"] for c in connected),
               sum(c["rss"] for c in checked)]
    limit0 = plan.limits[0] if plan.limits else None
    res: dict[str, Any] = dict(seen.held_phase)
    short = plan.short
    if sessions < plan.n and short is None:
        short = (f"{plan.n:,} sessions did not open within the {plan.deadline_s:.0f} s "
                 f"deadline: {sessions:,} opened at {sessions / seen.connect_s:,.0f}/s")
    res.update({
        "connections": sessions,
        "requested": plan.requested,
        "limited_by": short,
        "workers": plan.workers,
        "generators": len(gens),
        "open_file_limits": {
            "generator_processes": [g.said["ready"]["limit"] for g in gens],
            "node_workers": [lim and [lim.soft, lim.hard] for lim in plan.limits],
            "room_per_process": limit0.room() if limit0 else None,
            "reserved_descriptors": FD_RESERVE,
        },
        "hold_s": plan.hold,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "heartbeat_negotiated_ms": connected[0]["heartbeat_negotiated_ms"],
        "source_addresses": {a: c for g in gens
                             for a, c in zip(g.sources, split(g.count, len(g.sources)),
                                             strict=True)},
        "sources_per_generator": {str(g.index): g.sources for g in gens},
        "per_source_address": PER_SOURCE,
        "connect_concurrency": plan.concurrency * len(gens),
        "connect_concurrency_per_generator": plan.concurrency,
        "connect_s": round(seen.connect_s, 2),
        "connects_per_s": round(sessions / seen.connect_s) if seen.connect_s else None,
        "connect_retries": sum(c["retries"] for c in connected),
        "connect_failures": sum(c["failures"] for c in connected),
        "first_connect_failures": [f for c in connected for f in c["first_failures"]][:5],
        "listen_overflows": _delta(*seen.listen, "ListenOverflows"),
        "listen_drops": _delta(*seen.listen, "ListenDrops"),
        "connect_phase": seen.connect,
        "node_processes": t_held["processes"],
        "rss_before_mb": mb(t_idle["rss"]),
        "rss_connected_mb": mb(t_open["rss"]),
        "rss_held_mb": mb(t_held["rss"]),
        "pss_before_mb": mb(t_idle["pss"]),
        "pss_connected_mb": mb(t_open["pss"]),
        "pss_held_mb": mb(t_held["pss"]),
        "uss_before_mb": mb(t_idle["uss"]),
        "uss_held_mb": mb(t_held["uss"]),
        "kb_per_connection": per_session("rss"),
        "pss_kb_per_connection": per_session("pss"),
        "uss_kb_per_connection": per_session("uss"),
        "target_kb": TARGET_KB,
        "memory_note": "sums over the node's processes (supervisor and workers) from "
                       "/proc/<pid>/smaps_rollup, the idle node's subtracted",
        "per_worker": spread,
        "worker_sessions_min_max": [min(worker_sessions), max(worker_sessions)]
        if worker_sessions else None,
        "node_sessions_at_end": sum(seen.held_sessions.values()),
        "node_descriptors_added_at_end": t_held["fds"] - t_idle["fds"],
        "generator_rss_mb": {"before": mb(gen_rss[0]), "connected": mb(gen_rss[1]),
                             "held": mb(gen_rss[2])},
        "generator_kb_per_connection": round((gen_rss[2] - gen_rss[0]) / sessions / 1024, 2)
        if sessions else None,
        "generator_cpu_note": "this process and its generator processes together",
        "client_heartbeats_sent": sum(c["client_heartbeats_sent"] for c in checked),
        "alive_at_end": alive,
        "heard_within_interval": heard("heard_within_interval"),
        "heard_from_server_recently": heard("heard_within_margin"),
        "oldest_rx_age_s": max((c["oldest_rx_age_s"] or 0) for c in checked),
        "never_heard_a_server_heartbeat": sum(c["never_heard_a_server_heartbeat"]
                                              for c in checked),
        "server_heartbeats_received": sum(c["server_heartbeats_received"] for c in checked),
        "per_generator": [{"sessions": c["sessions"], "alive": k["alive"],
                           "heard_within_interval": k["heard_within_interval"],
                           "connect_s": c["seconds"], "cpu_s": k["cpu_s"],
                           "rss_mb": mb(k["rss"])}
                          for c, k in zip(connected, checked, strict=True)],
    })
    log(f"  {name} idle: {sessions:,} sessions on {plan.workers} worker(s) "
        f"({res['connects_per_s']}/s), {res['kb_per_connection']} KB RSS / "
        f"{res['pss_kb_per_connection']} KB PSS per session, alive {alive:,}, heard within "
        f"the interval {res['heard_within_interval']}, spread {worker_sessions}")
    return res


def _delta(a: dict[str, int], b: dict[str, int], key: str) -> int | None:
    return b[key] - a[key] if key in a and key in b else None
