"""What the shared generic queues (stompim.cluster.queues) keep on one node, and their
periodic Redis passes: lease renewal, the claim of entries whose node stopped renewing,
and the expiry of entries nobody took.

Call order: `StreamQueues` owns one `Scripts`, a `LocalQueue` per queue with local
subscriptions, and calls `renew_leases`, `claim_idle`, `expire_waiting` from its keep loop
(every third of the visibility timeout; expiry at most once per tenth of the TTL).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from stompim.broker.message import Message
from stompim.broker.router import Subscription
from stompim.rate_limited_log import RateLimitedLog

from . import queue_scripts as scripts

__all__ = [
    "GROUP", "LocalQueue", "QueueSettings", "QueueStats", "Scripts", "claim_idle",
    "expire_waiting", "millis", "renew_leases",
]

GROUP = "stompim"

_quiet = RateLimitedLog(logging.getLogger(__name__))


@dataclass(frozen=True)
class QueueSettings:
    prefix: str = "stompim"
    visibility_timeout: float = 30.0
    prefetch: int = 64
    max_depth: int = 10000
    max_queues: int = 10000
    max_message_bytes: int = 16 * 1024 * 1024
    ttl: float = 3600.0            # 0: no expiry
    command_timeout: float = 2.0
    connect_timeout: float = 1.0
    pool_max: int = 16

    @property
    def idle_key_ms(self) -> int:
        """How long an empty queue's key (stream and group) outlives its last use."""
        return int(max(self.ttl, 3600.0) * 1000)


@dataclass
class QueueStats:
    """Counters (mutable on purpose; read by stompim.cluster.metrics)."""

    stored: int = 0
    send_refused: int = 0      # Redis did not answer: the sender was told
    full: int = 0
    delivered: int = 0
    redelivered: int = 0
    claimed: int = 0           # taken over from a node that stopped renewing its lease
    given_back: int = 0
    acked: int = 0
    expired: int = 0
    leases_lost: int = 0       # held entries another node claimed meanwhile
    redis_errors: int = 0
    claim_passes: int = 0      # lease renewals and claim scans done (one per keep period)
    up: bool = True


class LocalQueue:
    """This node's side of one queue: its subscriptions and the entries it holds."""

    __slots__ = ("claim_from", "consumers", "held", "key", "name", "paused", "ready", "rr")

    def __init__(self, name: str, key: str) -> None:
        self.name = name
        self.key = key
        self.consumers: list[Subscription] = []
        self.rr = 0
        # delivered, unacknowledged (client ack modes): message -> (entry id, sub)
        self.held: dict[Message, tuple[str, Subscription]] = {}
        self.ready = False      # the consumer group is known to exist
        self.claim_from = "0-0"
        self.paused = 0.0       # loop time until which this node does not read the queue

    def credit(self, prefetch: int) -> int:
        """Messages the local subscriptions can take now: `prefetch` each, less what a
        client-ack one holds unacknowledged; none for a congested one (an auto-ack
        subscription is not fed past its session's soft limit)."""
        total = 0
        for sub in self.consumers:
            consumer = sub.consumer
            if consumer.is_open and not consumer.congested:
                total += prefetch - (len(sub.unacked) if sub.unacked is not None else 0)
        return max(0, total)

    def congested(self) -> bool:
        """Some open subscription is skipped for congestion (the reader looks again
        shortly, as a session drains without telling)."""
        return any(sub.consumer.is_open and sub.consumer.congested for sub in self.consumers)

    def next(self, avoid: str, tag: dict[Subscription, str]) -> Subscription | None:
        n = len(self.consumers)
        for i in range(n):
            sub = self.consumers[(self.rr + i) % n]
            if n > 1 and avoid and tag.get(sub) == avoid:
                continue
            if sub.consumer.is_open:
                self.rr = (self.rr + i + 1) % n
                return sub
        return None


class Scripts:
    """The Lua scripts by SHA, loaded on first use (again after Redis failed: it may have
    restarted without its script cache)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._sha: dict[str, str] = {}

    async def sha(self, source: str) -> str:
        sha = self._sha.get(source)
        if sha is None:
            sha = self._sha[source] = str(await self.client.script_load(source))
        return sha

    def forget(self) -> None:
        self._sha.clear()


def millis(entry_id: str) -> int:
    """The milliseconds part of a stream entry id (when it was added)."""
    head = entry_id.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def renew_leases(
    client: aioredis.Redis, code: Scripts, queues: Iterable[LocalQueue], node_id: str,
    stats: QueueStats, command_timeout: float,
) -> None:
    """Reset the idle time of every entry this node holds (TOUCH, only while it still
    owns it); one another node claimed meanwhile is forgotten and counted."""
    sha = await code.sha(scripts.TOUCH)
    for local in list(queues):
        by_id = {entry_id: message for message, (entry_id, _) in local.held.items()}
        ids = list(by_id)
        for start in range(0, len(ids), 256):
            lost = await asyncio.wait_for(client.evalsha(
                sha, 1, local.key, GROUP, node_id, *ids[start:start + 256]), command_timeout)
            for raw in lost or ():
                entry_id = _text(raw)
                local.held.pop(by_id[entry_id], None)
                stats.leases_lost += 1
                _quiet.warning("lease", "queue %s: entry %s was claimed by another node "
                               "(this node did not renew its lease in time)",
                               local.name, entry_id)


async def claim_idle(
    client: aioredis.Redis, local: LocalQueue, node_id: str, settings: QueueSettings
) -> list[Any]:
    """Entries of `local`'s queue idle longer than the visibility timeout (their node
    stopped renewing), claimed for this node (XAUTOCLAIM), at most what the local
    subscriptions can take; the scan goes on from where the last one stopped."""
    credit = local.credit(settings.prefetch)
    if credit <= 0 or not local.ready:
        return []
    reply = await asyncio.wait_for(client.xautoclaim(
        local.key, GROUP, node_id, int(settings.visibility_timeout * 1000),
        start_id=local.claim_from, count=credit), settings.command_timeout)
    local.claim_from = _text(reply[0])
    return list(reply[1] or ())


async def expire_waiting(
    client: aioredis.Redis, code: Scripts, set_key: str, key_of: Callable[[str], str],
    settings: QueueSettings,
) -> int:
    """Delete entries older than the TTL that no consumer took, over every non-empty
    queue (100 queues per script call); how many."""
    sha = await code.sha(scripts.EXPIRE)
    deadline = str(int(time.time() * 1000 - settings.ttl * 1000))
    cursor: int = 0
    dropped = 0
    while True:
        cursor, names = await client.sscan(set_key, cursor, count=100)
        if names:
            decoded = [_text(n) for n in names]
            keys = [key_of(n) for n in decoded]
            dropped += int(await asyncio.wait_for(client.evalsha(
                sha, 1 + len(keys), set_key, *keys, GROUP, deadline, 1000,
                settings.idle_key_ms, *decoded), settings.command_timeout))
        if not cursor:
            return dropped
