"""Prometheus metrics of a node: the process-wide families and the cheap hot-path histogram.

Two kinds of metric, chosen by how often they move:

* Off the hot path (a REST request, a database statement, a chat batch, a bcrypt job,
  a refusal, a dependency that did not answer) the families are prometheus-client
  objects defined here, at module level, in the library's default registry: one
  process is one node, and the library keeps them thread-safe (bcrypt runs in
  threads) and, in multiprocess mode, shared through files (below).
* On the broker's hot path (every frame, every delivery) nothing of the library is
  called: the broker bumps plain integers (stompim.broker.exchange.Stats) and
  `Buckets` (a histogram that is one bisect and two additions), and a collector reads
  them at scrape time (stompim.broker.metrics, stompim.store.metrics,
  stompim.cluster.metrics).  A scrape costs the node a few milliseconds; a delivery
  costs nothing more than before, a SEND tens of nanoseconds (bench.metrics_overhead).

`NodeRegistry` is what /metrics renders: the process-wide families (with the
library's process, platform and GC collectors) plus the collectors of one node's
broker, database pool and bridge.  Tests run several nodes in one process, so a node's
collectors are never registered in the global registry (and the process-wide families
of such a process add up every node's: tests compare before and after).

Several worker processes serving one node: with ``PROMETHEUS_MULTIPROC_DIR`` set in
the environment before stompim is imported (prometheus-client's multiprocess mode; an
empty directory, wiped before the node's workers start, as the library asks), the
library families write to per-process files there and every worker's /metrics sums
them across workers.  The node collectors (read from one worker's broker, bridge and
pool) are shared the same way by `Snapshots`: each worker writes its collectors'
samples to ``stompim-node-<pid>.json`` in that directory once a second and at every
scrape, and a scrape sums every worker's file: counters and histograms of every
worker that ever ran (a worker's totals outlive it, as the library's own counters
do), gauges of the live workers only; a gauge of distinct members (users,
`NodeRegistry.count_distinct`) is the size of the live workers' union instead.
Without the variable everything is in-process.

This module is at the bottom of the import graph (it imports nothing of stompim).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

__all__ = [
    "BATCH_SIZE_BUCKETS",
    "BCRYPT_BUSY",
    "BCRYPT_SECONDS",
    "BCRYPT_WAIT",
    "CHAT_BATCH_SECONDS",
    "CHAT_BATCH_SIZE",
    "CHAT_STORED",
    "DB_ERRORS",
    "DB_POOL_WAIT",
    "DB_SECONDS",
    "HTTP_ERRORS",
    "HTTP_REQUESTS",
    "HTTP_SECONDS",
    "LATENCY_BUCKETS",
    "MULTIPROCESS_DIR",
    "REDIS_SECONDS",
    "UNAVAILABLE",
    "Buckets",
    "NodeRegistry",
    "OutcomeCounters",
    "Snapshots",
    "process_collector",
]

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
"""prometheus-client's multiprocess mode is on when this is set (read once, at import)."""

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
)
"""Seconds; from 100 µs (a local delivery) to 10 s (a statement at its timeout)."""

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `*_created` series

BATCH_SIZE_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Buckets:
    """A histogram for hot paths: `observe` is one bisect and two additions, no lock
    (the event loop's thread only).  Read by a collector at scrape time (`family`)."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float, n: int = 1) -> None:
        """`n` observations of `value` (Prometheus buckets are "less or equal")."""
        self.counts[bisect_left(self.bounds, value)] += n
        self.total += value * n

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """(le, count of observations <= le), ending with +Inf, as exposition wants."""
        out = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return out


def histogram_family(
    name: str, documentation: str, series: Iterable[tuple[Sequence[str], Buckets]],
    labels: Sequence[str] = (),
) -> HistogramMetricFamily:
    """A histogram family from `Buckets`, one series per label values."""
    family = HistogramMetricFamily(name, documentation, labels=list(labels))
    for values, buckets in series:
        family.add_metric(list(values), buckets.cumulative(), buckets.total)
    return family


# -- process-wide families (off the hot path) ------------------------------------------

HTTP_REQUESTS = Counter(
    "stompim_http_requests", "REST requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "stompim_http_request_duration_seconds",
    "REST request time until the response was ready, by method and route template",
    ["method", "route"], buckets=LATENCY_BUCKETS,
)
HTTP_ERRORS = Counter(
    "stompim_http_errors",
    "REST answers with an error code in the Result (refusals 1xxx-6xxx, 9001 bad input, "
    "9503 unavailable, ...), by code",
    ["code"],
)
UNAVAILABLE = Counter(
    "stompim_dependency_unavailable",
    "Calls to a dependency that did not answer in time or refused (each became "
    "Unavailable: REST 503, chat send 3001), by dependency and reason",
    ["dependency", "reason"],
)
DB_SECONDS = Histogram(
    "stompim_db_query_seconds",
    "Database round trips (a statement, BEGIN, COMMIT), by backend and operation",
    ["backend", "operation"], buckets=LATENCY_BUCKETS,
)
DB_POOL_WAIT = Histogram(
    "stompim_db_pool_wait_seconds",
    "Time waiting for a database connection (MySQL pool; SQLite's one connection)",
    ["backend"], buckets=LATENCY_BUCKETS,
)
DB_ERRORS = Counter(
    "stompim_db_errors",
    "Database round trips that failed, by backend and kind (duplicate, invalid, "
    "unavailable, other)",
    ["backend", "kind"],
)
REDIS_SECONDS = Histogram(
    "stompim_redis_command_seconds", "Redis commands (and pipelines) of the key-value store",
    buckets=LATENCY_BUCKETS,
)
CHAT_BATCH_SECONDS = Histogram(
    "stompim_chat_batch_seconds",
    "Time to write one batch of chat sends (rights, media, one transaction)",
    buckets=LATENCY_BUCKETS,
)
CHAT_BATCH_SIZE = Histogram(
    "stompim_chat_batch_size", "Chat sends handled in one batch", buckets=BATCH_SIZE_BUCKETS,
)
CHAT_STORED = Counter("stompim_chat_messages_stored", "Chat messages stored (new, not resends)")
BCRYPT_WAIT = Histogram(
    "stompim_bcrypt_queue_wait_seconds",
    "Time a password hash or check waited for a bcrypt worker thread",
    buckets=LATENCY_BUCKETS,
)
BCRYPT_SECONDS = Histogram(
    "stompim_bcrypt_seconds", "Time a bcrypt worker spent on one hash or check",
    buckets=LATENCY_BUCKETS,
)
BCRYPT_BUSY = Counter(
    "stompim_bcrypt_refused",
    "Password jobs refused because the bcrypt queue would wait too long (429 / busy)",
)


def process_collector() -> Collector:
    """The process-wide families: this process's registry, or in multiprocess mode
    the sum over every worker's files."""
    if not MULTIPROCESS_DIR:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
    return registry


class OutcomeCounters(Collector):
    """One counter family `<name>_total{outcome}` over a dict of counts read at scrape
    time (the counters a domain object keeps as plain integers)."""

    def __init__(self, name: str, documentation: str,
                 counts: Callable[[], Mapping[str, int]]) -> None:
        self.name = name
        self.documentation = documentation
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=["outcome"])
        for outcome, value in sorted(self.counts().items()):
            family.add_metric([outcome], value)
        yield family


class NodeRegistry(Collector):
    """What /metrics shows for one node: the process-wide families plus the node's own
    collectors (`add`).  `render()` is the text exposition format 0.0.4.

    In multiprocess mode (`MULTIPROCESS_DIR`) the node's collectors are read through
    `snapshots` (every worker's); `await start()` begins writing this worker's
    snapshot every SNAPSHOT_SECONDS, `await close()` writes the last one."""

    def __init__(self, directory: str = MULTIPROCESS_DIR) -> None:
        self._process = process_collector()
        self._node: list[Collector] = []
        self.distinct: dict[str, Callable[[], Iterable[int]]] = {}
        self.snapshots = Snapshots(Path(directory), self) if directory else None

    def add(self, collector: Collector) -> None:
        self._node.append(collector)

    def count_distinct(self, name: str, members: Callable[[], Iterable[int]]) -> None:
        """The gauge `name` (an unlabelled one of a collector) counts distinct
        `members()`, e.g. users: across workers it is the size of their union, not the
        sum (a user with sessions on two workers is one user)."""
        self.distinct[name] = members

    def collect_node(self) -> Iterator[Metric]:
        for collector in self._node:
            yield from collector.collect()

    def collect(self) -> Iterator[Metric]:
        yield from self._process.collect()
        if self.snapshots is not None:
            yield from self.snapshots.collect()
        else:
            yield from self.collect_node()

    def render(self) -> bytes:
        return generate_latest(self)

    async def start(self) -> None:
        if self.snapshots is not None:
            self.snapshots.start()

    async def close(self) -> None:
        if self.snapshots is not None:
            await self.snapshots.close()


SNAPSHOT_SECONDS = 1.0
"""How often a worker writes its node collectors' samples in multiprocess mode."""

_SUMMED_WHEN_DEAD = frozenset({"counter", "histogram"})


class Snapshots(Collector):
    """The node collectors of every worker of one node (multiprocess mode; see the
    module docstring).  `collect()` writes this worker's file, then sums all files."""

    def __init__(self, directory: Path, registry: NodeRegistry, pid: int | None = None) -> None:
        self.directory = directory
        self.registry = registry
        self.pid = os.getpid() if pid is None else pid
        self.path = directory / f"stompim-node-{self.pid}.json"
        self._task: asyncio.Task[None] | None = None

    def write(self) -> None:
        """This worker's samples, replaced atomically (a reader never sees half)."""
        distinct = self.registry.distinct
        families = [
            {"name": f.name, "type": f.type, "doc": f.documentation,
             "samples": [[s.name, s.labels, s.value] for s in f.samples]}
            | ({"members": sorted(distinct[f.name]())} if f.name in distinct else {})
            for f in self.registry.collect_node()
        ]
        temporary = self.path.with_suffix(".tmp")
        temporary.write_bytes(json.dumps(families).encode())
        os.replace(temporary, self.path)

    def collect(self) -> Iterator[Metric]:
        self.write()
        merged: dict[str, Metric] = {}
        sums: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        unions: dict[str, set[int]] = {}
        for path in sorted(self.directory.glob("stompim-node-*.json")):
            families = _read_snapshot(path)
            alive = _alive(path)
            for family in families:
                name, kind = family["name"], family["type"]
                if not alive and kind not in _SUMMED_WHEN_DEAD:
                    continue
                if name not in merged:
                    merged[name] = Metric(name, family["doc"], kind)
                    sums[name] = {}
                totals = sums[name]
                members = family.get("members")
                if isinstance(members, list):   # count_distinct: a union, not a sum
                    union = unions.setdefault(name, set())
                    union.update(members)
                    totals[(name, ())] = float(len(union))
                    continue
                for sample, labels, value in family["samples"]:
                    key = (sample, tuple(sorted(labels.items())))
                    totals[key] = totals.get(key, 0.0) + float(value)
        for name, metric in merged.items():
            for (sample, labels), value in sums[name].items():
                metric.samples.append(Sample(sample, dict(labels), value))
            yield metric

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.write()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_SECONDS)
            try:
                self.write()
            except OSError:   # a full disk must not end the node; the next try may work
                continue

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(OSError):
                self.write()


def _read_snapshot(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return []   # removed meanwhile, or not ours
    return data if isinstance(data, list) else []


def _alive(path: Path) -> bool:
    """Whether the worker that wrote `path` (its pid in the name) still runs."""
    try:
        pid = int(path.stem.rsplit("-", 1)[1])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
