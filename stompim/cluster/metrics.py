"""The Redis bridge's metrics, read at scrape time from its `BridgeStats`.

Call order: `BridgeCollector(bridge)`, then `collect()` per scrape.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from stompim.cluster.bridge import RedisBridge

__all__ = ["BridgeCollector"]


class BridgeCollector(Collector):
    """A prometheus-client collector over one node's RedisBridge."""

    def __init__(self, bridge: RedisBridge) -> None:
        self.bridge = bridge

    def collect(self) -> Iterator[Metric]:
        bridge = self.bridge
        stats = bridge.stats
        yield GaugeMetricFamily(
            "stompim_bridge_buffer_bytes",
            "Bytes waiting in the bridge's buffer for Redis (bounded by "
            "redis.bridge_buffer_bytes)", value=stats.pending_bytes)
        yield GaugeMetricFamily(
            "stompim_bridge_buffer_limit_bytes", "redis.bridge_buffer_bytes",
            value=bridge.max_buffer_bytes)
        yield GaugeMetricFamily(
            "stompim_bridge_up",
            "1 while publishing to Redis works, 0 from a failed publish until one succeeds",
            value=int(stats.publishing))
        since = stats.backlog_since
        yield GaugeMetricFamily(
            "stompim_bridge_backlog_seconds",
            "How long the bridge's buffer has not been empty (0 when it is): an upper bound "
            "on how late other nodes hear this node's messages",
            value=0.0 if since is None else max(0.0, time.monotonic() - since))
        yield CounterMetricFamily(
            "stompim_bridge_dropped",
            "Messages for other nodes dropped because the buffer was full (Redis down "
            "too long; x-since-seq resume fills the gap)", value=stats.dropped)
        yield CounterMetricFamily(
            "stompim_bridge_published_batches", "Batches published to Redis",
            value=stats.batches_out)
        yield CounterMetricFamily(
            "stompim_bridge_published_records", "Messages and controls published to Redis",
            value=stats.records_out)
        yield CounterMetricFamily(
            "stompim_bridge_received_records", "Messages and controls received from other nodes",
            value=stats.records_in)
        yield CounterMetricFamily(
            "stompim_bridge_publish_errors", "Publishes to Redis that failed (retried)",
            value=stats.publish_errors)
        yield CounterMetricFamily(
            "stompim_bridge_decode_errors", "Batches from Redis that could not be decoded",
            value=stats.decode_errors)
