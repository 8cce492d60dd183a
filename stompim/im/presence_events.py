"""Presence events to friends: "online" when a user's first device connects anywhere in
the cluster, "offline" (with the last-seen time) when the last one is gone, debounced so a
quick reconnect -- on the same node or another -- tells nobody anything.

How a node decides, with what every node shares through the KV store (Redis in a
cluster, stompim.im.presence for the per-node hash):

* the marker ``presence:shown:<userId>`` exists while friends were told "online". It is
  created with SET NX by the node where a session opens (only the creator announces
  "online"), carries a KV expiry of `ttl` seconds and is refreshed every ttl/3 by each
  node holding sessions of the user;
* when the last session of a user on this node ends, the node waits `debounce_ms`. Then,
  if the user has no session here, and no other node's field in ``presence:<userId>``
  is alive, it deletes the marker; only the node whose DELETE removed it announces
  "offline" and stores the last-seen time (table `user_presence`).

So a reconnect within the debounce finds the marker (no "online"), and the pending
"offline" finds a session (no "offline"). A node that stops or dies announces nothing
for its users: their markers lapse after `ttl` and `GET /api/user/online` shows them
offline, and the next connection announces "online" again.

Privacy: a user with `hidden` set (PUT /api/user/presence) sends no events, and shows
offline to others in `GET /api/user/online` and without a last-seen time.

Call order: `PresenceAnnouncer(...)`, `await start()`, the broker calls
`session_opened` / `session_closed` (a session listener), `await close()` before the KV
store closes. Time: `clock` (epoch ms) and `schedule(delay_s, callback)`, injectable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from stompim.errors import KvTypeError
from stompim.im.clock import Cancellable, Clock, Schedule, call_later, now_ms
from stompim.im.presence import DEFAULT_TTL, presence_key
from stompim.rate_limited_log import RateLimitedLog
from stompim.store.kv import KvOp
from stompim.store.presence import PresenceRepository

if TYPE_CHECKING:
    from stompim.store import KeyValue

__all__ = ["PresenceAnnouncer", "PresenceStats", "presence_event", "shown_key"]

log = logging.getLogger(__name__)
_quiet = RateLimitedLog(log)

REFRESH_BATCH = 1000
"""Markers per KV round trip in the periodic refresh (one PEXPIRE each)."""


def shown_key(user_id: int) -> str:
    return f"presence:shown:{user_id}"


def presence_event(user_id: int, online: bool, at: int, last_seen: int | None) -> dict[str, Any]:
    """The JSON friends get on their notification queue (`x-event: presence`)."""
    return {
        "event": "presence",
        "userId": user_id,
        "state": "online" if online else "offline",
        "online": online,
        "lastSeen": last_seen,
        "at": at,
    }


class _HasUserId(Protocol):
    @property
    def user_id(self) -> int: ...


class FriendLister(Protocol):
    async def friends_of(self, user_id: int) -> list[Any]: ...  # records with friend_id


class PresencePublisher(Protocol):
    async def presence(
        self, user_id: int, audience: Iterable[int], event: dict[str, Any]
    ) -> None: ...


@dataclass
class PresenceStats:
    online_sent: int = 0
    offline_sent: int = 0
    suppressed: int = 0
    """Session opens and closes that told nobody: another device of the user, a
    reconnect within the debounce, a user who hides their presence."""

    def metrics(self) -> dict[str, int]:
        return {f"presence_{k}": v for k, v in asdict(self).items()}


class PresenceAnnouncer:
    def __init__(
        self,
        *,
        kv: KeyValue,
        node_id: str,
        friends: FriendLister,
        settings: PresenceRepository,
        publisher: PresencePublisher,
        debounce_ms: int = 5000,
        ttl: float = DEFAULT_TTL,
        enabled: bool = True,
        clock: Clock = now_ms,
        schedule: Schedule = call_later,
    ) -> None:
        self.kv = kv
        self.node_id = node_id
        self.friends = friends
        self.settings = settings
        self.publisher = publisher
        self.debounce_ms = debounce_ms
        self.ttl = ttl
        self.enabled = enabled
        self.clock = clock
        self.schedule = schedule
        self.stats = PresenceStats()
        self._counts: dict[int, int] = {}
        self._pending: dict[int, Cancellable] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    # -- the broker's session listener ----------------------------------------------

    async def session_opened(self, principal: _HasUserId) -> None:
        uid = principal.user_id
        if self._closed or uid <= 0:
            return
        count = self._counts.get(uid, 0) + 1
        self._counts[uid] = count
        if count > 1:
            self.stats.suppressed += 1
            return
        pending = self._pending.pop(uid, None)
        if pending is not None:
            pending.cancel()
        try:
            # One round trip: SET NX, and push the expiry forward should the marker
            # exist already (after a fresh SET the PEXPIRE just repeats the same ttl).
            created, refreshed = await self.kv.batch([
                KvOp.set(shown_key(uid), self.node_id, ttl=self.ttl, only_if_absent=True),
                KvOp.expire(shown_key(uid), self.ttl),
            ])
            for result in (created, refreshed):
                if isinstance(result, Exception):
                    raise result
            if not created:  # friends know already: another node, or a quick reconnect
                self.stats.suppressed += 1
                return
            await self._tell(uid, True, None)
        except Exception as exc:  # no event rather than a failed session
            _quiet.warning(("online", type(exc)), "presence online of %s: %s", uid, exc)

    async def session_closed(self, principal: _HasUserId) -> None:
        uid = principal.user_id
        if self._closed or uid not in self._counts:
            return
        count = self._counts[uid] - 1
        if count > 0:
            self._counts[uid] = count
            self.stats.suppressed += 1
            return
        del self._counts[uid]
        old = self._pending.pop(uid, None)
        if old is not None:
            old.cancel()
        self._pending[uid] = self.schedule(self.debounce_ms / 1000, lambda: self._due(uid))

    # -- offline, after the debounce ---------------------------------------------------

    def _due(self, uid: int) -> None:
        self._pending.pop(uid, None)
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self.settle(uid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self, uid: int) -> bool:
        """Announce "offline" if the user is gone everywhere; True when announced."""
        if self._counts.get(uid, 0) > 0:
            return False
        try:
            if await self._elsewhere(uid) or await self.kv.delete(shown_key(uid)) == 0:
                self.stats.suppressed += 1
                return False
            now = self.clock()
            await self.settings.set_last_seen(uid, now)
            return await self._tell(uid, False, now)
        except Exception as exc:
            _quiet.warning(("offline", type(exc)), "presence offline of %s: %s", uid, exc)
            return False

    async def _elsewhere(self, uid: int) -> bool:
        """Another node holds a live session of `uid` (its presence field is alive)."""
        key = presence_key(uid)
        try:
            fields = await self.kv.hgetall(key)
        except KvTypeError:
            return await self.kv.exists(key)
        now = self.clock()
        for node, deadline in fields.items():
            if node == self.node_id:
                continue
            try:
                if int(deadline) > now:
                    return True
            except ValueError:
                return True
        return False

    async def _tell(self, uid: int, online: bool, last_seen: int | None) -> bool:
        if not self.enabled:
            self.stats.suppressed += 1
            return False
        friends = [int(f.friend_id) for f in await self.friends.friends_of(uid)]
        if friends and await self.settings.hidden(uid):  # no friends: no need to ask
            self.stats.suppressed += 1
            return False
        event = presence_event(uid, online, self.clock(), last_seen)
        await self.publisher.presence(uid, friends, event)
        if online:
            self.stats.online_sent += 1
        else:
            self.stats.offline_sent += 1
        return True

    # -- markers of users with sessions here stay alive ----------------------------

    async def _refresh_loop(self) -> None:
        # The flag as well as the cancellation ends it: a cancellation that lands in
        # the KV client's pipeline can be absorbed there (see PresenceTracker._run).
        while not self._closed:
            await asyncio.sleep(self.ttl / 3)
            await self.refresh_markers()

    async def refresh_markers(self) -> None:
        """Push forward the markers of users with sessions here, `REFRESH_BATCH` users
        per KV round trip, one batch after the other; stops at the first failure."""
        uids = list(self._counts)
        for start in range(0, len(uids), REFRESH_BATCH):
            ops = [KvOp.expire(shown_key(u), self.ttl) for u in uids[start:start + REFRESH_BATCH]]
            try:
                await self.kv.batch(ops)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _quiet.warning(("refresh", type(exc)), "presence marker refresh: %s", exc)
                break

    async def close(self) -> None:
        """Stop: pending "offline" events are dropped (see the module docstring)."""
        self._closed = True
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        tasks = list(self._tasks)
        if self._refresher is not None:
            tasks.append(self._refresher)
            self._refresher = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)   # bounded, as PresenceTracker.close
