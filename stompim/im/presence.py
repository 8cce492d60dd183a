"""Online status: who has at least one live STOMP session on some node.

Storage (shared by all nodes through the KV store): one hash per user,
``presence:<userId>``, with one field per node that holds sessions of that user;
the field's value is a deadline in epoch milliseconds.  The hash as a whole also
carries a KV expiry of `ttl` seconds, pushed forward on every write.

* `PresenceTracker` (one per node, a broker session listener) writes this node's
  field while it counts >= 1 session of the user, refreshes the deadlines of all
  its users from one periodic task, and deletes its field when the last session
  ends.  A node that dies without cleaning up leaves fields whose deadlines pass
  (readers ignore them) and hashes that expire.
* `Presence` (the reader, used by `GET /api/user/online`) says a user is online
  when some field of the hash has a deadline in the future.  A plain string key
  ``presence:<userId>`` (set by tools or tests) also counts as online: its own
  expiry bounds it.

Deadlines compare the writer's clock with the reader's; with the default ttl of
60 s refreshed every 20 s, clocks may disagree by tens of seconds before a live
user looks offline.

Call order (tracker): `PresenceTracker(kv, node_id)`, `await start()`, then the
broker calls `session_opened` / `session_closed` once per session, finally
`await close()` (removes this node's fields) before the KV is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from stompim.errors import KvTypeError
from stompim.rate_limited_log import RateLimitedLog
from stompim.store.kv import KvOp

if TYPE_CHECKING:
    from stompim.store import KeyValue

__all__ = ["Presence", "PresenceTracker", "presence_key"]

log = logging.getLogger(__name__)
_quiet = RateLimitedLog(log)

DEFAULT_TTL = 60.0
WRITE_CONCURRENCY = 64
"""Reads in flight per `is_online` step (bounds connections and bursts)."""
WRITE_BATCH = 500
"""Users per KV round trip when writing (one `KeyValue.batch`: 2 commands a user).
Batches of one pass go one after the other, so a pass holds one connection."""


def presence_key(user_id: int) -> str:
    return f"presence:{user_id}"


def _now_ms() -> int:
    return int(time.time() * 1000)


class Presence:
    """Reads the presence hashes (see the module docstring)."""

    def __init__(self, kv: KeyValue, clock: Callable[[], int] = _now_ms) -> None:
        self._kv = kv
        self._clock = clock

    async def is_online(self, ids: Iterable[int]) -> dict[int, bool]:
        unique = list(dict.fromkeys(ids))
        flags: list[bool] = []
        for start in range(0, len(unique), WRITE_CONCURRENCY):
            chunk = unique[start:start + WRITE_CONCURRENCY]
            flags.extend(await asyncio.gather(*(self._one(u) for u in chunk)))
        return dict(zip(unique, flags, strict=False))

    async def _one(self, user_id: int) -> bool:
        key = presence_key(user_id)
        try:
            fields = await self._kv.hgetall(key)
        except KvTypeError:  # a plain string key: online while it exists
            return await self._kv.exists(key)
        now = self._clock()
        for value in fields.values():
            try:
                if int(value) > now:
                    return True
            except ValueError:
                return True  # not a deadline: trust the hash's own expiry
        return False


class _HasUserId(Protocol):
    @property
    def user_id(self) -> int: ...


class PresenceTracker:
    """This node's share of presence: a broker session listener.

    Counts sessions per user in memory.  Every KV write goes through one task,
    so writes for one user never overtake each other: a change marks the user
    dirty and `session_opened` / `session_closed` return once the pass that
    wrote it is done (bounded by `write_timeout`).  The same task refreshes all
    users counted here every `refresh` seconds (default ttl / 3).  A pass
    writes its users `WRITE_BATCH` at a time, each batch one KV round trip
    (HSET + PEXPIRE per online user, HDEL per user gone from this node), so
    the cost of a refresh grows with users / WRITE_BATCH round trips.
    """

    def __init__(
        self,
        kv: KeyValue,
        node_id: str,
        *,
        ttl: float = DEFAULT_TTL,
        refresh: float | None = None,
        write_timeout: float = 5.0,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        if not node_id:
            raise ValueError("presence needs a non-empty node_id")
        self.kv = kv
        self.node_id = node_id
        self.ttl = ttl
        self.refresh = refresh if refresh is not None else ttl / 3
        self.write_timeout = write_timeout
        self._clock = clock
        self._counts: dict[int, int] = {}
        self._written: set[int] = set()
        self._dirty: set[int] = set()
        self._wake = asyncio.Event()
        self._pass_done: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # ------------------------------------------------------------ listener

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._pass_done = loop.create_future()
        self._task = loop.create_task(self._run(), name=f"stompim-presence-{self.node_id}")

    async def session_opened(self, principal: _HasUserId) -> None:
        uid = principal.user_id
        count = self._counts.get(uid, 0) + 1
        self._counts[uid] = count
        if count == 1:
            await self._mark(uid)

    async def session_closed(self, principal: _HasUserId) -> None:
        uid = principal.user_id
        count = self._counts.get(uid, 0) - 1
        if count > 0:
            self._counts[uid] = count
            return
        self._counts.pop(uid, None)
        await self._mark(uid)

    def sessions_here(self, user_id: int) -> int:
        return self._counts.get(user_id, 0)

    @property
    def users_here(self) -> int:
        return len(self._counts)

    async def _mark(self, uid: int) -> None:
        if self._closed or self._pass_done is None:
            return
        self._dirty.add(uid)
        self._wake.set()
        done = self._pass_done
        try:
            await asyncio.wait_for(asyncio.shield(done), self.write_timeout)
        except TimeoutError:
            _quiet.warning("pending", "presence write for user %s still pending after %.1fs",
                           uid, self.write_timeout)

    # -------------------------------------------------------------- writer

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self.refresh
        # `close()` cancels this task, but a cancellation that lands inside the KV
        # client's pipeline can be absorbed there (seen with redis-py's pipeline):
        # the flag ends the loop whatever became of the cancellation.
        while not self._closed:
            if not self._dirty:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(),
                                           max(0.0, next_refresh - loop.time()))
            self._wake.clear()
            users, self._dirty = self._dirty, set()
            if loop.time() >= next_refresh:
                users |= set(self._counts)
                next_refresh = loop.time() + self.refresh
            done, self._pass_done = self._pass_done, loop.create_future()
            try:
                await self._write(users)
            finally:
                if done is not None and not done.done():
                    done.set_result(None)

    async def _write(self, users: set[int]) -> None:
        ordered = list(users)
        for start in range(0, len(ordered), WRITE_BATCH):
            await self._write_batch(ordered[start:start + WRITE_BATCH])

    async def _write_batch(self, uids: list[int]) -> None:
        """One round trip for `uids`; errors are logged (rate-limited), never raised."""
        ops: list[KvOp] = []
        owners: list[int] = []
        for uid in uids:
            key = presence_key(uid)
            if self._counts.get(uid, 0) > 0:
                deadline = self._clock() + int(self.ttl * 1000)
                ops += (KvOp.hset(key, self.node_id, str(deadline)), KvOp.expire(key, self.ttl))
                owners += (uid, uid)
                self._written.add(uid)
            else:
                self._written.discard(uid)
                ops.append(KvOp.hdel(key, self.node_id))
                owners.append(uid)
        try:
            results = await self.kv.batch(ops)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Redis away: the next refresh writes online users again; a stale
            # field of an offline user lapses at its deadline.
            _quiet.warning(("write", type(exc)), "presence write for %d users failed: %s",
                           len(uids), exc)
            return
        for uid, result in zip(owners, results, strict=True):
            if isinstance(result, Exception):  # e.g. a plain string key in the way
                _quiet.warning(("write", type(result)),
                               "presence write for user %s failed: %s", uid, result)

    # ------------------------------------------------------------ shutdown

    async def close(self) -> None:
        """Stop the writer and remove this node's fields (best effort, bounded)."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Bounded: the loop also stops on `_closed` if the cancellation is absorbed.
            await asyncio.wait({task}, timeout=self.write_timeout)
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.warning("presence writer ended with %r", task.exception())
        if self._pass_done is not None and not self._pass_done.done():
            self._pass_done.set_result(None)
        users = self._written | set(self._counts)
        self._counts.clear()
        self._dirty.clear()
        try:
            async with asyncio.timeout(self.write_timeout):
                await self._write(users)
        except TimeoutError:
            log.warning("presence cleanup timed out; entries lapse after %.0fs", self.ttl)
