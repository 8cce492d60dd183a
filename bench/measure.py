"""What every scenario measures besides its own figure: CPU of both sides, RSS, percentiles.

On a 2-core machine the generator and the broker share the CPU, so every result
carries `generator_cpu` (this process, % of one core over the measured wall time)
next to `broker_cpu`: a generator near 100% means the figure is the generator's
ceiling, not the broker's.

With `db_pid` (MariaDB's or PostgreSQL's server process, children included) the
database's CPU is reported apart as `db_cpu_pct` instead of inside `others_cpu_pct`.

Call order: `m = Meter(broker_pid[, db_pid])`, `m.start()`, ... load ..., `m.stop()` -> dict.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, field

import psutil


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max of latencies given in ns, returned in ms."""
    if not samples_ns:
        return {"count": 0}
    s = sorted(samples_ns)
    n = len(s)

    def at(q: float) -> float:
        return s[min(n - 1, int(q * n))] / 1e6

    return {
        "count": n,
        "p50_ms": round(at(0.50), 4),
        "p90_ms": round(at(0.90), 4),
        "p99_ms": round(at(0.99), 4),
        "p999_ms": round(at(0.999), 4),
        "max_ms": round(s[-1] / 1e6, 4),
        "mean_ms": round(sum(s) / n / 1e6, 4),
    }


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def process_cpu(proc: psutil.Process | None) -> float:
    """User+system CPU seconds of a process and its children (0 if gone)."""
    if proc is None:
        return 0.0
    try:
        t = proc.cpu_times()
        total = t.user + t.system
        for child in proc.children(recursive=True):
            try:
                ct = child.cpu_times()
                total += ct.user + ct.system
            except psutil.Error:
                pass
        return total
    except psutil.Error:
        return 0.0


def _busy_cpu() -> float:
    """Busy CPU seconds of the whole machine (all cores)."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def process_rss(proc: psutil.Process | None) -> int:
    if proc is None:
        return 0
    try:
        return int(proc.memory_info().rss)
    except psutil.Error:
        return 0


@dataclass
class Meter:
    """CPU of generator and broker, and broker RSS, over one measured interval."""

    broker_pid: int | None
    db_pid: int | None = None
    _proc: psutil.Process | None = field(init=False, default=None)
    _db: psutil.Process | None = field(init=False, default=None)
    _db0: float = 0.0
    _t0: float = 0.0
    _gen0: float = 0.0
    _brk0: float = 0.0
    _sys0: float = 0.0
    rss_start: int = 0

    def __post_init__(self) -> None:
        if self.broker_pid:
            try:
                self._proc = psutil.Process(self.broker_pid)
            except psutil.Error:
                self._proc = None
        if self.db_pid:
            try:
                self._db = psutil.Process(self.db_pid)
            except psutil.Error:
                self._db = None

    def rss(self) -> int:
        return process_rss(self._proc)

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._gen0 = _self_cpu()
        self._brk0 = process_cpu(self._proc)
        self._db0 = process_cpu(self._db)
        self._sys0 = _busy_cpu()
        self.rss_start = self.rss()

    def stop(self) -> dict[str, float | None]:
        wall = time.perf_counter() - self._t0
        gen = _self_cpu() - self._gen0
        brk = process_cpu(self._proc) - self._brk0
        dbc = process_cpu(self._db) - self._db0
        busy = _busy_cpu() - self._sys0
        out = {
            "wall_s": round(wall, 3),
            "generator_cpu_pct": round(100 * gen / wall, 1) if wall else 0.0,
            "broker_cpu_pct": round(100 * brk / wall, 1) if wall and self._proc else None,
            "broker_rss_mb": round(self.rss() / 2**20, 1) if self._proc else None,
            # CPU used by everything else on the machine (other jobs distort results)
            "others_cpu_pct": (
                round(100 * max(0.0, busy - gen - brk - dbc) / wall, 1) if wall else 0.0
            ),
            "cores": psutil.cpu_count(),
        }
        if self._db is not None:
            out["db_cpu_pct"] = round(100 * dbc / wall, 1) if wall else 0.0
        return out


class Progress:
    """A one-line progress report on stderr, at most once per `every` seconds."""

    def __init__(self, label: str, total: int | None = None, every: float = 1.0) -> None:
        self.label = label
        self.total = total
        self.every = every
        self.done = 0
        self._t0 = time.perf_counter()
        self._last = 0.0
        self._tty = sys.stderr.isatty()

    def add(self, n: int = 1) -> None:
        self.done += n
        self.tick()

    def set(self, done: int) -> None:
        self.done = done
        self.tick()

    def tick(self, extra: str = "") -> None:
        now = time.perf_counter()
        if now - self._last < self.every:
            return
        self._last = now
        self._print(now, extra)

    def _print(self, now: float, extra: str) -> None:
        el = now - self._t0
        rate = self.done / el if el > 0 else 0.0
        of = f"/{self.total}" if self.total else ""
        pct = f" {100 * self.done / self.total:5.1f}%" if self.total else ""
        line = f"  {self.label}: {self.done}{of}{pct} {rate:,.0f}/s {el:5.1f}s {extra}"
        if self._tty:
            sys.stderr.write("\r" + line.ljust(100))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self, extra: str = "") -> None:
        self._print(time.perf_counter(), extra)
        if self._tty:
            sys.stderr.write("\n")
        sys.stderr.flush()


def log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


async def wait_quiet(max_wait_s: float, threshold_pct: float = 25.0) -> float | None:
    """Wait (up to `max_wait_s`) until other processes use < `threshold_pct` of one core.

    Returns the last measured busy % of other processes. Helps keep a figure from
    being measured while something else (a test run, a build) holds the CPU.
    """
    import asyncio

    if max_wait_s <= 0:
        return None
    deadline = time.monotonic() + max_wait_s
    while True:
        t0, b0, s0 = time.perf_counter(), _busy_cpu(), _self_cpu()
        await asyncio.sleep(1.0)
        wall = time.perf_counter() - t0
        others = 100 * max(0.0, (_busy_cpu() - b0) - (_self_cpu() - s0)) / wall
        if others < threshold_pct or time.monotonic() >= deadline:
            return round(others, 1)
