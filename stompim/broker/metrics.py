"""The broker's metrics, read at scrape time from the counters its hot paths bump.

The broker never calls prometheus-client while it works: sessions and the broker bump
the plain integers and `Buckets` of `Stats` (stompim.broker.exchange), and
`BrokerCollector.collect()` turns them into families when /metrics is scraped.  The
gauges that are sums over the router (subscriptions, queued messages) are computed
here, at scrape time, by walking the router once.

Call order: `BrokerCollector(broker)`, then `collect()` from any number of scrapes
on the event loop's thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from stompim.frames import Command
from stompim.metrics import histogram_family

from .exchange import TRANSPORTS

if TYPE_CHECKING:
    from .broker import Broker

__all__ = ["BrokerCollector"]

_OUT_DOC = "STOMP frames sent, by command (MESSAGE, RECEIPT, ERROR, CONNECTED)"


class BrokerCollector(Collector):
    """A prometheus-client collector over one broker's `Stats` and router."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def collect(self) -> Iterator[Metric]:
        stats = self.broker.stats
        yield _by_transport(
            GaugeMetricFamily, "stompim_stomp_connections",
            "Open STOMP connections (CONNECTED or not), by transport", stats.open_by_transport)
        yield _by_transport(
            CounterMetricFamily, "stompim_stomp_connections_accepted",
            "STOMP connections accepted, by transport", stats.accepted_by_transport)
        yield _by_transport(
            GaugeMetricFamily, "stompim_stomp_sessions",
            "CONNECTED (authenticated) STOMP sessions, by transport",
            stats.sessions_by_transport)
        yield GaugeMetricFamily(
            "stompim_stomp_users", "Distinct users with a CONNECTED session on this node",
            value=len(self.broker._users))
        subscriptions, queued = self._router_sizes()
        yield GaugeMetricFamily(
            "stompim_stomp_subscriptions", "Active subscriptions (topics and queues)",
            value=subscriptions)
        yield GaugeMetricFamily(
            "stompim_stomp_queued_messages",
            "Messages held in generic /queue/** destinations awaiting a consumer",
            value=queued)
        broker = self.broker
        yield GaugeMetricFamily(
            "stompim_stomp_queues", "Generic /queue/** destinations held (stomp.max_queues)",
            value=len(broker.router.queues))
        yield GaugeMetricFamily(
            "stompim_stomp_queued_bytes",
            "Bytes held by generic queues, unacknowledged deliveries included "
            "(stomp.max_queues_total_bytes)", value=broker.router.queued_bytes)
        yield CounterMetricFamily(
            "stompim_stomp_queue_messages_expired",
            "Generic queue messages dropped at stomp.queue_message_ttl_ms",
            value=broker.router.expired)
        yield GaugeMetricFamily(
            "stompim_stomp_preauth_connections",
            "Connections that have not finished CONNECT (stomp.preauth_max_connections)",
            value=broker.preauth.connections)
        yield GaugeMetricFamily(
            "stompim_stomp_preauth_bytes",
            "Input bytes held for connections that have not finished CONNECT "
            "(stomp.preauth_max_total_bytes)", value=broker.preauth.bytes)
        yield CounterMetricFamily(
            "stompim_heap_trims", "Times the sweep gave freed heap back to the system "
            "(glibc malloc_trim)", value=broker.trimmer.trims)

        frames_in = CounterMetricFamily(
            "stompim_stomp_frames_received", "STOMP frames received, by command",
            labels=["command"])
        for command, count in stats.frames_in.items():
            frames_in.add_metric([command.value], count)
        yield frames_in
        frames_out = CounterMetricFamily("stompim_stomp_frames_sent", _OUT_DOC,
                                         labels=["command"])
        frames_out.add_metric([Command.MESSAGE.value], stats.messages_out)
        frames_out.add_metric([Command.RECEIPT.value], stats.receipts_out)
        frames_out.add_metric([Command.ERROR.value], stats.errors_out)
        frames_out.add_metric([Command.CONNECTED.value], stats.connected_out)
        yield frames_out
        yield CounterMetricFamily(
            "stompim_stomp_heartbeats_sent", "Heart-beat EOLs sent", value=stats.heartbeats_out)
        yield CounterMetricFamily(
            "stompim_stomp_bytes_received", "Bytes of STOMP received", value=stats.bytes_in)
        yield CounterMetricFamily(
            "stompim_stomp_bytes_sent", "Bytes of STOMP handed to transports",
            value=stats.bytes_out)
        yield CounterMetricFamily(
            "stompim_stomp_sends", "SENDs performed (published, or handed to the chat "
            "handler), transactions' at COMMIT", value=stats.messages_in)

        errors = CounterMetricFamily(
            "stompim_stomp_errors", "ERROR frames sent (the session then closes), by reason",
            labels=["reason"])
        for reason, count in stats.error_reasons.items():
            errors.add_metric([reason], count)
        yield errors
        drops = CounterMetricFamily(
            "stompim_stomp_slow_consumer_drops",
            "Sessions dropped as slow consumers, by cause (pending_bytes: past "
            "stomp.max_pending_bytes; congested_too_long: past stomp.slow_consumer_ms)",
            labels=["cause"])
        for cause in ("pending_bytes", "congested_too_long"):
            drops.add_metric([cause], stats.slow_consumer_drops.get(cause, 0))
        yield drops
        refusals = CounterMetricFamily(
            "stompim_stomp_refusals",
            "SENDs refused (a RECEIPT with x-error-code), by code", labels=["code"])
        for code, count in sorted(stats.refusals.items()):
            refusals.add_metric([str(code)], count)
        yield refusals

        yield histogram_family(
            "stompim_stomp_send_delivery_seconds",
            "Generic SEND read -> its MESSAGEs written to every local subscriber's transport",
            [((), stats.send_delivery)])
        yield histogram_family(
            "stompim_stomp_send_receipt_seconds",
            "Chat SEND (or its COMMIT) read -> its answer: stored (RECEIPT with message-id) "
            "or refused", [(("stored",), stats.send_stored), (("refused",), stats.send_refused)],
            labels=["outcome"])

    def _router_sizes(self) -> tuple[int, int]:
        router = self.broker.router
        subscriptions = sum(len(subs) for subs in router.topics.values())
        queued = 0
        for queue in router.queues.values():
            subscriptions += len(queue.consumers)
            queued += len(queue.pending)
        return subscriptions, queued


def _by_transport(
    kind: type[GaugeMetricFamily] | type[CounterMetricFamily], name: str, doc: str,
    values: list[int],
) -> Metric:
    family = kind(name, doc, labels=["transport"])
    for transport, value in zip(TRANSPORTS, values, strict=True):
        family.add_metric([transport], value)
    return family
