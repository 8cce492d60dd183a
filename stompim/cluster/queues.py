"""Generic ``/queue/**`` shared by every node: a Redis stream per queue, one consumer
group, one group consumer per node.

The contract (docs/queues.md has it for users):

* A SEND is stored (`SEND` script: XADD, refused past `max_queue_depth` entries or
  `max_queues` non-empty queues) before its RECEIPT; when Redis does not answer the
  sender gets a refusal RECEIPT (3001) and nothing claims it was stored.
* A node with subscribers on a queue reads it with XREADGROUP as consumer `node_id`,
  only as many entries as its subscriptions can take (`prefetch` unacknowledged
  messages each), and hands each entry to one local subscription (round robin).
  ``auto``: acknowledged (XACK and XDEL) when delivered.  ``client`` /
  ``client-individual``: when the client ACKs.
* NACK, UNSUBSCRIBE, DISCONNECT or a dropped socket give the entry back (`GIVE_BACK`:
  acknowledged and added again at the tail with ``r`` = redelivered), so any node's
  consumer takes it next, with the header ``redelivered:true``.
* A node holds a lease on the entries it delivered and not yet settled: it resets
  their idle time every third of `visibility_timeout` (`TOUCH`, only while it still
  owns them).  Every node claims (XAUTOCLAIM) entries idle longer than the visibility
  timeout (their node died, was killed, or lost Redis for that long) and delivers them
  as redelivered.  So a message is never lost while Redis keeps it, and is not given
  to a second consumer while its first consumer's node is alive and reaches Redis.
* An entry that waited longer than `queue_message_ttl_ms` without being taken is
  dropped (`EXPIRE`, swept by every node, and checked again when read).

Local memory: at most `prefetch` messages per subscription, and acknowledgements
waiting for Redis are bounded (reading pauses past `MAX_OUTBOX`).

Parts: the Lua scripts (queue_scripts), the per-node state and the lease, claim and
expiry passes (queue_state), the batched SENDs (queue_send); this module ties them to the
broker's subscriptions and runs the reader.

Call order: `queues = await StreamQueues.open(url, node_id, settings)`,
`router.shared = queues`, `rules.set_queue_handler(queues)`, `queues.start(clock)`;
at the end `await queues.close()` after the broker closed (the broker's sessions give
their messages back first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from stompim.broker.auth import Principal
from stompim.broker.errors import QueueFull
from stompim.broker.message import STRIPPED_SEND_HEADERS, Message
from stompim.broker.router import AckMode, Subscription
from stompim.rate_limited_log import RateLimitedLog

from . import queue_scripts as scripts
from .queue_send import SendBatcher
from .queue_state import (
    GROUP,
    LocalQueue,
    QueueSettings,
    QueueStats,
    Scripts,
    claim_idle,
    expire_waiting,
    millis,
    renew_leases,
)

__all__ = ["QueueSettings", "QueueStats", "StreamQueues"]

log = logging.getLogger(__name__)
_quiet = RateLimitedLog(log)

MAX_OUTBOX = 8192          # acknowledgements and give-backs waiting for Redis
BLOCK_MS = 1000            # one XREADGROUP waits at most this long (woken sooner)
MAX_PAUSE = 2.0
CONGESTION_RECHECK = 0.02  # a congested subscription is looked at again this soon
NACK_PAUSE = 0.1           # a node whose only consumer NACKed stays off the queue so long


Op = tuple[str, LocalQueue, list[str], str, str]   # (script, queue, entry ids, avoid, mark)


class StreamQueues:
    """`SharedQueues` (stompim.broker.router) and the SEND handler of generic queues."""

    def __init__(
        self, client: aioredis.Redis, reader: aioredis.Redis, node_id: str,
        settings: QueueSettings,
    ) -> None:
        if not node_id:
            raise ValueError("shared queues need a non-empty node_id")
        self.client = client
        self.reader = reader
        self.node_id = node_id
        self.settings = settings
        self.stats = QueueStats()
        self._set_key = f"{settings.prefix}:queues"
        self._queues: dict[str, LocalQueue] = {}
        self._tags: dict[Subscription, str] = {}
        self._tag_seq = 0
        self._outbox: list[Op] = []
        self._out_wake = asyncio.Event()
        self._read_wake = asyncio.Event()
        self._reader_id: int | None = None
        self._blocked = False
        self._unblocking: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._code = Scripts(client)
        self._sender = SendBatcher(client, self._code, settings, self.stats, self._key,
                                   self._set_key, self._down)

    @classmethod
    async def open(cls, url: str, node_id: str, settings: QueueSettings) -> StreamQueues:
        """Two clients: a pool for commands and one connection for blocking reads."""
        client = aioredis.Redis.from_url(
            url, max_connections=settings.pool_max, socket_timeout=settings.command_timeout,
            socket_connect_timeout=settings.connect_timeout)
        reader = aioredis.Redis.from_url(
            url, single_connection_client=True,
            socket_timeout=settings.command_timeout + BLOCK_MS / 1000.0,
            socket_connect_timeout=settings.connect_timeout)
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            await reader.aclose()
            raise
        return cls(client, reader, node_id, settings)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for name, coro in (("send", self._sender.run()), ("ack", self._out_loop()),
                           ("read", self._read_loop()), ("keep", self._keep_loop())):
            self._tasks.append(loop.create_task(coro, name=f"stompim-queues-{name}"))

    def _key(self, name: str) -> str:
        return f"{self.settings.prefix}:q:{name}"

    # ------------------------------------------------------------ SEND side

    def handles(self, destination: str) -> bool:
        return False   # routed by DestinationRules.queue_handler, not by name

    # The rest of DestinationHandler: a queue SUBSCRIBE never reaches a handler (it is
    # a generic subscription, given to the Router and from there to `add`).
    async def authorize_subscribe(self, principal: Principal, destination: str) -> None:
        return None

    def ordered(self, destination: str) -> bool:
        return False

    async def head(self, principal: Principal, destination: str) -> int:
        return 0

    async def replay(
        self, principal: Principal, destination: str, since: int
    ) -> list[tuple[dict[str, str], bytes]]:
        return []

    def begin_send(
        self, principal: Principal, destination: str, headers: Mapping[str, str], body: bytes
    ) -> asyncio.Future[Mapping[str, str]]:
        """Store one SEND; the Future resolves with the RECEIPT headers (``message-id``)
        once Redis has it, or fails (QueueFull: ERROR; Unavailable: refusal 3001)."""
        size = len(body) + sum(len(k) + len(v) for k, v in headers.items())
        if size > self.settings.max_message_bytes:
            raise QueueFull(f"queue {destination} is full ({self.settings.max_message_bytes}"
                            " bytes)")
        kept = [(k, v) for k, v in headers.items() if k not in STRIPPED_SEND_HEADERS]
        return self._sender.submit(destination, json.dumps(kept), body)

    def publish(self, message: Message) -> None:
        """A server-side publish: stored like a SEND, nobody waits for it."""
        future = self._sender.submit(message.destination, json.dumps(list(message.headers)),
                                     message.body)
        future.add_done_callback(_consume)

    # ------------------------------------------------------- subscriptions

    def add(self, sub: Subscription) -> None:
        local = self._queues.get(sub.destination)
        if local is None:
            local = self._queues[sub.destination] = LocalQueue(
                sub.destination, self._key(sub.destination))
        local.consumers.append(sub)
        self._tag_seq += 1
        self._tags[sub] = f"{self.node_id}/{self._tag_seq}"
        self._wake_reader()

    def remove(self, sub: Subscription, unacked: Sequence[Message]) -> None:
        local = self._queues.get(sub.destination)
        self._tags.pop(sub, None)
        if local is None:
            return
        if sub in local.consumers:
            local.consumers.remove(sub)
        self._give_back(local, unacked, "", "1")
        for message, (_, holder) in list(local.held.items()):
            if holder is sub:   # delivered after the session stopped listing it
                self._give_back(local, [message], "", "1")
        if not local.consumers and not local.held:
            self._queues.pop(sub.destination, None)

    def acknowledged(self, sub: Subscription, messages: Sequence[Message]) -> None:
        local = self._queues.get(sub.destination)
        if local is None:
            return
        ids = [held[0] for m in messages if (held := local.held.pop(m, None)) is not None]
        if ids:
            self._post(("ack", local, ids, "", ""))
        if local.credit(self.settings.prefetch) <= len(messages):
            self._wake_reader()   # it had no credit before this ACK: read again
        if not local.consumers and not local.held:
            self._queues.pop(sub.destination, None)

    def returned(self, sub: Subscription, messages: Sequence[Message]) -> None:
        """NACK: back to the queue for another consumer.  When `sub` is this node's only
        consumer of it, the node stops reading the queue for NACK_PAUSE (its reader is
        unblocked before the entries go back), so a consumer on another node, waiting
        in its read, takes them; with none anywhere they come back here after it."""
        local = self._queues.get(sub.destination)
        if local is not None:
            if all(other is sub or not other.consumer.is_open for other in local.consumers):
                local.paused = asyncio.get_running_loop().time() + NACK_PAUSE
            self._give_back(local, messages, self._tags.get(sub, ""), "1")
            self._wake_reader()

    def _give_back(self, local: LocalQueue, messages: Sequence[Message], avoid: str,
                   mark: str) -> None:
        ids = [held[0] for m in messages if (held := local.held.pop(m, None)) is not None]
        if ids:
            self._post(("give", local, ids, avoid, mark))

    def _post(self, op: Op) -> None:
        self._outbox.append(op)
        self._out_wake.set()

    # ------------------------------------------------------------ delivery

    def _arrived(self, local: LocalQueue, entries: Sequence[Any], claimed: bool) -> None:
        """Hand entries read (or claimed) from the stream to local subscriptions."""
        ttl_ms = self.settings.ttl * 1000.0
        now_ms = time.time() * 1000.0
        held_ids = {entry_id for entry_id, _ in local.held.values()} if claimed else ()
        expired: list[str] = []
        back: list[str] = []
        acks: list[str] = []
        for raw_id, fields in entries:
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            if not fields or entry_id in held_ids:
                continue
            if ttl_ms and not claimed and millis(entry_id) < now_ms - ttl_ms:
                expired.append(entry_id)
                continue
            avoid = fields.get(b"a", b"").decode()
            sub = local.next(avoid, self._tags)
            if sub is None or (avoid and self._tags.get(sub) == avoid):
                back.append(entry_id)   # none here, or only the one that NACKed it: it
                continue                # goes back once more without the tag (any node)
            try:
                pairs = json.loads(fields.get(b"h", b"[]"))
                headers = tuple((str(k), str(v)) for k, v in pairs)
            except (ValueError, TypeError):
                headers = ()
            first = fields.get(b"i", raw_id)
            message_id = first.decode() if isinstance(first, bytes) else str(first)
            message = Message(local.name, (*headers, ("message-id", message_id)),
                              fields.get(b"b", b""), self.node_id)
            redelivered = claimed or fields.get(b"r") == b"1"
            if sub.ack_mode is AckMode.AUTO:
                acks.append(entry_id)
            else:
                local.held[message] = (entry_id, sub)
            self.stats.delivered += 1
            if redelivered:
                self.stats.redelivered += 1
            sub.consumer.deliver(sub, message, redelivered)
        if acks:
            self._post(("ack", local, acks, "", ""))
        if expired:
            self.stats.expired += len(expired)
            self._post(("ack", local, expired, "", ""))
        if back:
            self._post(("give", local, back, "", ""))

    # ------------------------------------------------------------ the reader

    def _wake_reader(self) -> None:
        self._read_wake.set()
        if self._blocked and self._unblocking is None and self._reader_id is not None:
            self._unblocking = asyncio.get_running_loop().create_task(self._unblock())

    async def _unblock(self) -> None:
        """CLIENT UNBLOCK the reader's XREADGROUP so it reads the new set of queues; a
        read not yet blocked in Redis is tried again shortly (bounded by BLOCK_MS)."""
        try:
            deadline = time.monotonic() + BLOCK_MS / 1000.0
            while self._blocked and self._read_wake.is_set() and time.monotonic() < deadline:
                if await self.client.client_unblock(self._reader_id or 0):
                    return
                await asyncio.sleep(0.002)
        except (RedisError, OSError):
            pass
        finally:
            self._unblocking = None

    def _readable(self) -> tuple[dict[str, LocalQueue], int, float]:
        """The queues to read, how many entries each, and the loop time a paused
        queue becomes readable again (inf: none is paused)."""
        prefetch = self.settings.prefetch
        ready: dict[str, LocalQueue] = {}
        count = prefetch
        resume = float("inf")
        if sum(len(op[2]) for op in self._outbox) >= MAX_OUTBOX:
            return ready, 0, resume
        now = asyncio.get_running_loop().time()
        for local in self._queues.values():
            if local.paused > now:
                resume = min(resume, local.paused)
                continue
            if local.congested():
                resume = min(resume, now + CONGESTION_RECHECK)
            credit = local.credit(prefetch)
            if credit > 0:
                ready[local.key] = local
                count = min(count, credit)
        return ready, count, resume

    async def _ensure_groups(self, queues: Sequence[LocalQueue]) -> None:
        missing = [q for q in queues if not q.ready]
        if not missing:
            return
        sha = await self._script(scripts.ENSURE_GROUP)
        pipe = self.client.pipeline(transaction=False)
        for local in missing:
            pipe.evalsha(sha, 1, local.key, GROUP, self.settings.idle_key_ms)
        await pipe.execute()
        for local in missing:
            local.ready = True

    async def _read_loop(self) -> None:
        pause = 0.05
        while not self._closed:
            self._read_wake.clear()
            ready, count, resume = self._readable()
            if not ready:
                if resume == float("inf"):
                    await self._read_wake.wait()
                else:
                    delay = resume - asyncio.get_running_loop().time()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._read_wake.wait(), max(0.001, delay))
                continue
            try:
                await self._ensure_groups(list(ready.values()))
                if self._reader_id is None:
                    self._reader_id = int(await self.reader.client_id())
                if self._read_wake.is_set():
                    continue
                self._blocked = True
                reply: Any
                try:
                    reply = await self.reader.xreadgroup(
                        GROUP, self.node_id, dict.fromkeys(ready, ">"), count=count,
                        block=BLOCK_MS)
                finally:
                    self._blocked = False
            except ResponseError as exc:
                if "NOGROUP" in str(exc) or "UNBLOCKED" in str(exc):
                    for local in ready.values():
                        local.ready = False
                    continue
                self._down(exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)
                continue
            except (RedisError, OSError) as exc:
                self._reader_id = None
                self._down(exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)
                continue
            pause = 0.05
            for key, entries in reply or ():
                target = ready.get(key.decode() if isinstance(key, bytes) else str(key))
                if target is not None:
                    self._arrived(target, entries, claimed=False)

    # ------------------------------------------------- acks and give-backs

    async def _out_loop(self) -> None:
        pause = 0.05
        s = self.settings
        while True:
            await self._out_wake.wait()
            self._out_wake.clear()
            while self._outbox:
                ops = self._outbox[:64]
                unblocking = self._unblocking
                if unblocking is not None and any(op[0] == "give" and op[3] for op in ops):
                    await asyncio.shield(unblocking)   # NACK: the reader is off the queue
                try:
                    ack = await self._script(scripts.ACK)
                    give = await self._script(scripts.GIVE_BACK)
                    pipe = self.client.pipeline(transaction=False)
                    for kind, local, ids, avoid, mark in ops:
                        if kind == "ack":
                            pipe.evalsha(ack, 2, local.key, self._set_key, GROUP, local.name,
                                         s.idle_key_ms, *ids)
                        else:
                            pipe.evalsha(give, 2, local.key, self._set_key, GROUP,
                                         self.node_id, local.name, avoid, mark, *ids)
                    results = await asyncio.wait_for(pipe.execute(), s.command_timeout)
                except (RedisError, OSError, TimeoutError) as exc:
                    self._down(exc)
                    if self._closed:
                        return
                    await asyncio.sleep(pause)   # kept: retried until Redis answers
                    pause = min(pause * 2, MAX_PAUSE)
                    continue
                pause = 0.05
                was_full = sum(len(op[2]) for op in self._outbox) >= MAX_OUTBOX
                del self._outbox[:len(ops)]
                for (kind, _, ids, _, _), result in zip(ops, results, strict=True):
                    if kind == "ack":
                        self.stats.acked += len(ids)
                    else:
                        self.stats.given_back += int(result)
                if was_full:
                    self._wake_reader()   # reading paused on a full outbox
            if self._closed:
                return

    # ------------------------------------------------ leases, claims, expiry

    async def _keep_loop(self) -> None:
        s = self.settings
        period = max(0.02, s.visibility_timeout / 3.0)
        next_expiry = 0.0
        while not self._closed:
            await asyncio.sleep(period)
            try:
                await renew_leases(self.client, self._code, self._queues.values(),
                                   self.node_id, self.stats, s.command_timeout)
                for local in list(self._queues.values()):
                    entries = await claim_idle(self.client, local, self.node_id, s)
                    if entries:
                        self.stats.claimed += sum(1 for _, fields in entries if fields)
                        self._arrived(local, entries, claimed=True)
                self.stats.claim_passes += 1
                if s.ttl and time.monotonic() >= next_expiry:
                    next_expiry = time.monotonic() + min(60.0, max(1.0, s.ttl / 10))
                    self.stats.expired += await expire_waiting(
                        self.client, self._code, self._set_key, self._key, s)
            except (RedisError, OSError, TimeoutError) as exc:
                self._down(exc)


    async def _script(self, source: str) -> str:
        return await self._code.sha(source)

    def _down(self, exc: BaseException) -> None:
        self.stats.redis_errors += 1
        self.stats.up = False
        self._code.forget()   # Redis may have restarted without its script cache
        _quiet.warning("redis", "shared queues: Redis failed (%s)", exc)

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Flush the acknowledgements and give-backs (bounded), then stop."""
        if self._closed:
            return
        self._closed = True
        self._out_wake.set()
        out = [t for t in self._tasks if t.get_name().endswith("-ack")]
        with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.gather(*out), flush_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._sender.close()
        await self.reader.aclose()
        await self.client.aclose()


def _consume(future: asyncio.Future[Mapping[str, str]]) -> None:
    if not future.cancelled() and future.exception() is not None:
        _quiet.warning("publish", "a server message for a queue was not stored: %s",
                       future.exception())
