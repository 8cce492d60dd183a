"""The Redis bridge's metrics, read at scrape time from its `BridgeStats`.

Call order: `BridgeCollector(bridge)`, then `collect()` per scrape.
"""

from __future__ import annotations

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
