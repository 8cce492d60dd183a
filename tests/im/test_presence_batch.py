"""Presence writes in batches: the tracker and the announcer's marker refresh cost one
KV round trip per batch of users, not one or two per user, and leave the same presence
in the store as before (hash field per node with a deadline, KV expiry, field removed
when the user's last session here ends). Runs on the in-process store and on Redis;
round trips are counted by a wrapper around the real store (each KV call is one)."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

from stompim.im.presence import WRITE_BATCH, Presence, PresenceTracker, presence_key
from stompim.im.presence_events import REFRESH_BATCH, PresenceAnnouncer, shown_key
from stompim.store import Database, KeyValue, migrate
from stompim.store.presence import PresenceRepository

USERS = 1200


@dataclass(frozen=True)
class P:
    user_id: int


class CountingKv:
    """Forwards to a real store and counts calls by method name (one call, one trip)."""

    def __init__(self, inner: KeyValue) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await attr(*args, **kwargs)

        return counted


async def _eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_tracker_writes_users_in_batches(kv: KeyValue) -> None:
    now = [1_000_000]
    counting = CountingKv(kv)
    tracker = PresenceTracker(cast(KeyValue, counting), "n1", ttl=60, refresh=2.0,
                              clock=lambda: now[0])
    await tracker.start()
    users = range(1, USERS + 1)
    batches = math.ceil(USERS / WRITE_BATCH)
    try:
        await asyncio.gather(*(tracker.session_opened(P(u)) for u in users))
        await tracker.session_opened(P(1))  # a second session: nothing to write
        assert counting.calls["hset"] == counting.calls["expire"] == 0
        assert 1 <= counting.calls["batch"] <= batches + 1  # was 2 * USERS round trips
        for u in (1, 600, USERS):
            assert await kv.hgetall(presence_key(u)) == {"n1": str(now[0] + 60_000)}
            remaining = await kv.ttl(presence_key(u))
            assert remaining is not None and 50 < remaining <= 60
        online = await Presence(kv, clock=lambda: now[0]).is_online(users)
        assert all(online.values()) and len(online) == USERS

        # The periodic refresh rewrites every deadline, WRITE_BATCH users a trip.
        counting.calls.clear()
        now[0] += 5000
        fresh = str(now[0] + 60_000)

        async def refreshed() -> bool:
            return all([await kv.hget(presence_key(u), "n1") == fresh for u in users])

        async def one_pass_started() -> bool:
            return counting.calls["batch"] >= batches

        await _eventually(one_pass_started)
        await _eventually(refreshed)  # reading 1200 hashes takes well under `refresh`
        assert counting.calls["hset"] == counting.calls["expire"] == 0
        assert batches <= counting.calls["batch"] <= 2 * batches

        # Last session here gone: the field goes, in batches too.
        counting.calls.clear()
        await tracker.session_closed(P(1))
        assert await kv.hgetall(presence_key(1)) == {"n1": fresh}  # one session left
        await asyncio.gather(*(tracker.session_closed(P(u)) for u in users))
        assert counting.calls["hdel"] == 0
        assert counting.calls["batch"] <= 2 * batches + 2
        for u in (1, 600, USERS):
            assert await kv.exists(presence_key(u)) is False
        assert tracker.users_here == 0
    finally:
        await tracker.close()


async def test_tracker_skips_a_key_in_the_way_and_writes_the_rest(kv: KeyValue) -> None:
    await kv.set(presence_key(7), "set by a tool", ttl=30)
    tracker = PresenceTracker(kv, "n1")
    await tracker.start()
    try:
        await asyncio.gather(*(tracker.session_opened(P(u)) for u in (6, 7, 8)))
        assert set(await kv.hgetall(presence_key(6))) == {"n1"}
        assert set(await kv.hgetall(presence_key(8))) == {"n1"}
        assert await kv.get(presence_key(7)) == "set by a tool"  # logged, not raised
    finally:
        await tracker.close()
    assert await kv.exists(presence_key(6)) is False  # close() removed this node's fields


class NoFriends:
    async def friends_of(self, user_id: int) -> list[Any]:
        return []


class NoOut:
    async def presence(self, user_id: int, audience: Any, event: dict[str, Any]) -> None:
        raise AssertionError("nothing is announced with enabled=False")


async def test_announcer_marker_writes_are_one_trip(db: Database, kv: KeyValue) -> None:
    await migrate(db)
    counting = CountingKv(kv)
    announcer = PresenceAnnouncer(
        kv=cast(KeyValue, counting), node_id="n1", friends=NoFriends(),
        settings=PresenceRepository(db), publisher=NoOut(), enabled=False, ttl=60,
    )
    users = range(1, USERS + 1)
    try:
        for u in users:
            await announcer.session_opened(P(u))
        assert counting.calls["batch"] == USERS  # one trip a session open (was 1-2)
        assert counting.calls["set"] == counting.calls["expire"] == 0
        assert await kv.get(shown_key(1)) == "n1"
        await kv.expire(shown_key(1), 5)
        await kv.expire(shown_key(USERS), 5)
        await announcer.session_opened(P(USERS + 1))
        await kv.expire(shown_key(USERS + 1), 5)
        await announcer.session_closed(P(USERS + 1))
        await announcer.session_opened(P(USERS + 1))  # reconnect: marker pushed forward
        remaining = await kv.ttl(shown_key(USERS + 1))
        assert remaining is not None and remaining > 50

        counting.calls.clear()
        await announcer.refresh_markers()
        assert counting.calls["batch"] == math.ceil((USERS + 1) / REFRESH_BATCH)
        assert counting.calls["expire"] == 0
        for u in (1, USERS):
            remaining = await kv.ttl(shown_key(u))
            assert remaining is not None and remaining > 50
    finally:
        await announcer.close()
