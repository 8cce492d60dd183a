"""The Redis bridge's and the shared queues' metrics, read at scrape time from their
`BridgeStats` and `QueueStats`.

Call order: `BridgeCollector(bridge)` / `QueueCollector(queues)`, then `collect()` per
scrape.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from stompim.cluster.bridge import RedisBridge
from stompim.cluster.queues import StreamQueues

__all__ = ["BridgeCollector", "QueueCollector"]


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


_QUEUE_COUNTERS = (
    ("stored", "Generic queue messages stored in Redis (a SEND's RECEIPT followed)"),
    ("send_refused", "Generic queue SENDs refused because Redis did not answer (3001)"),
    ("full", "Generic queue SENDs refused: the queue, or the number of queues, is full"),
    ("delivered", "Generic queue messages this node delivered to a subscription"),
    ("redelivered", "Of those, delivered again (NACK, consumer gone, claimed)"),
    ("claimed", "Messages taken over from a node that stopped renewing its lease"),
    ("given_back", "Messages this node gave back to their queue (NACK, consumer gone)"),
    ("acked", "Generic queue messages acknowledged and removed from Redis by this node"),
    ("expired", "Generic queue messages dropped after waiting queue_message_ttl_ms"),
    ("leases_lost", "Delivered messages another node claimed before this one settled them"),
    ("redis_errors", "Shared queue operations that met a Redis failure (retried or refused)"),
    ("claim_passes", "Lease renewals and claim scans this node made (one per third of the "
     "visibility timeout)"),
)


class QueueCollector(Collector):
    """A prometheus-client collector over one node's StreamQueues."""

    def __init__(self, queues: StreamQueues) -> None:
        self.queues = queues

    def collect(self) -> Iterator[Metric]:
        stats = self.queues.stats
        for name, doc in _QUEUE_COUNTERS:
            yield CounterMetricFamily(f"stompim_shared_queue_{name}", doc,
                                      value=getattr(stats, name))
        yield GaugeMetricFamily(
            "stompim_shared_queue_up",
            "1 while Redis answers the shared queues, 0 from a failure until a success",
            value=int(stats.up))
