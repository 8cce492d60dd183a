"""The database pool's metrics, read at scrape time (the statement timings are
prometheus-client histograms bumped by the backends: stompim.metrics.DB_SECONDS).

Call order: `DatabaseCollector(db)`, then `collect()` per scrape.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from stompim.store.database import Database

__all__ = ["DatabaseCollector"]


class DatabaseCollector(Collector):
    """Connections of one Database: open, in use, the most it may open, waiters."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        usage = getattr(self.db, "pool_usage", None)
        if usage is None:
            return
        in_use, size, maximum, waiting = usage()
        labels = [self.db.dialect]
        for name, doc, value in (
            ("stompim_db_connections_in_use", "Database connections running a statement "
             "or transaction", in_use),
            ("stompim_db_connections_open", "Database connections open", size),
            ("stompim_db_connections_max", "Database connections the pool may open "
             "(database.pool_max; 1 for SQLite)", maximum),
            ("stompim_db_connections_waiting", "Tasks waiting for a database connection "
             "(bounded by database.acquire_timeout_ms)", waiting),
        ):
            family = GaugeMetricFamily(name, doc, labels=["backend"])
            family.add_metric(labels, value)
            yield family
