"""The cluster: what carries one node's live traffic to the others (Redis pub/sub), and
the generic queues every node shares (Redis streams).

It sits above both the broker (whose `Bridge` seam it implements) and the store (whose
key-value pub/sub it uses), which must not import each other:

    wire    the binary batch format on the channel (pure)
    bridge  RedisBridge: ordered, batched, retried from a bounded buffer
    queue_scripts, queue_state, queue_send, queues
            StreamQueues: generic /queue/** shared by every node (Redis streams, one
            consumer group; docs/queues.md)
"""

from __future__ import annotations

from stompim.cluster.bridge import BridgeStats, RedisBridge
from stompim.cluster.wire import BridgeDecodeError

__all__ = ["BridgeDecodeError", "BridgeStats", "RedisBridge"]
