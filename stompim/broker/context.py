"""What every session of one broker shares, and the limits of a session.

`SessionContext` is built once per broker from its StompConfig: the settings a session
reads on its hot paths (already converted to bytes and seconds), the exchange it
publishes through, and the counters it bumps.  Read-only after construction (but the
counters).
"""

from __future__ import annotations

from stompim.config import StompConfig
from stompim.frames import Limits

from .exchange import Exchange, Stats

__all__ = [
    "GAP_GRACE_SECONDS",
    "MAX_BACKLOG",
    "MAX_SENDS_IN_FLIGHT",
    "REPLAY_DEDUPE_SECONDS",
    "SessionContext",
]

MAX_BACKLOG = 10000
"""Frames that may wait (already read from one chunk) while the session holds."""

MAX_SENDS_IN_FLIGHT = 256
"""Handled SENDs of one session awaiting storage; past it the session stops reading
until the oldest settles (the handler's own timeouts bound the wait)."""

GAP_GRACE_SECONDS = 0.1
"""How long a hole of an ordered stream may stay open before the handler is asked for
it: messages of several nodes reach a node in the order their publishes reach Redis,
a few milliseconds apart from the order of their commits."""

REPLAY_DEDUPE_SECONDS = 60.0
"""How long a replay's message ids are remembered against late live publishes (a
message committed before the replay query, published after it: a cross-node publish
through Redis can lag, a local one cannot lag this long)."""


class SessionContext:
    def __init__(self, config: StompConfig, exchange: Exchange, stats: Stats) -> None:
        self.config = config
        self.exchange = exchange
        self.rules = exchange.rules
        self.stats = stats
        self.limits = Limits(
            max_frame_size=config.max_frame_size,
            max_headers=config.max_headers,
            max_header_length=config.max_header_length,
        )
        self.hard_pending = config.max_pending_bytes
        self.soft_pending = max(1024, config.max_pending_bytes // 4)
        self.slow_consumer = config.slow_consumer_ms / 1000.0
        self.grace = config.heartbeat_grace_ms / 1000.0
        self.connect_timeout = config.connect_timeout_ms / 1000.0
        self.drain = config.send_drain_ms / 1000.0
        self.heart_beat = f"{config.heartbeat_send_ms},{config.heartbeat_receive_ms}"
        # The SEND fast path (stompim.broker.send_fastpath) makes message ids by this
        # prefix; None (the path off) by config, or for a node id that would need
        # escaping in a header.
        node = exchange.node_id
        plain = not any(c in node for c in ":\\\r\n")
        self.id_prefix = f"{node}m".encode() if config.send_fast_path and plain else None
