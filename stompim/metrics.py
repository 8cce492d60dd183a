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
  them at scrape time (stompim.broker.metrics, stompim.cluster.metrics).  A scrape
  costs the node a few milliseconds; a delivery costs it nothing more than before.

`NodeRegistry` is what /metrics renders: the process-wide families (with the
library's process, platform and GC collectors) plus the collectors of one node's
broker and bridge.  Tests run several nodes in one process, so a node's collectors
are never registered in the global registry.

Several worker processes serving one node: with ``PROMETHEUS_MULTIPROC_DIR`` set in
the environment before stompim is imported (prometheus-client's multiprocess mode),
the library families write to per-process files there and every worker's /metrics
sums them across workers; the node collectors still answer for the scraped worker
only.  Without the variable everything is in-process.

This module is at the bottom of the import graph (it imports nothing of stompim).
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

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
    collectors (`add`).  `render()` is the text exposition format 0.0.4."""

    def __init__(self) -> None:
        self._process = process_collector()
        self._node: list[Collector] = []
        self.snapshots: Collector | None = None   # multiprocess mode: other workers' samples

    def add(self, collector: Collector) -> None:
        self._node.append(collector)

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
