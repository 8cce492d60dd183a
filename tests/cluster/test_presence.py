"""Presence: per-node session counts written to the shared KV, read by `Presence`.

Two trackers with different node ids over the `kv` fixture stand for two nodes
(memory: one shared store; redis: the real server).  Time-based cases use short
ttls so that a "dead node" (a tracker that stops refreshing) lapses quickly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from stompim.im.presence import Presence, PresenceTracker, presence_key
from stompim.store import KeyValue


@dataclass(frozen=True)
class P:
    user_id: int


@pytest.fixture
async def trackers(kv: KeyValue) -> AsyncIterator[tuple[PresenceTracker, PresenceTracker]]:
    a, b = PresenceTracker(kv, "A"), PresenceTracker(kv, "B")
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_online_while_any_node_has_a_session(
    kv: KeyValue, trackers: tuple[PresenceTracker, PresenceTracker]
) -> None:
    a, b = trackers
    presence = Presence(kv)
    assert await presence.is_online([1, 2]) == {1: False, 2: False}
    await a.session_opened(P(1))
    await a.session_opened(P(1))  # two devices on node A
    await b.session_opened(P(1))  # one on node B
    await b.session_opened(P(2))
    assert await presence.is_online([1, 2, 3]) == {1: True, 2: True, 3: False}
    assert set(await kv.hgetall(presence_key(1))) == {"A", "B"}
    ttl = await kv.ttl(presence_key(1))
    assert ttl is not None and 50 < ttl <= 60

    await a.session_closed(P(1))
    assert set(await kv.hgetall(presence_key(1))) == {"A", "B"}  # one device left on A
    await a.session_closed(P(1))
    assert set(await kv.hgetall(presence_key(1))) == {"B"}
    assert (await presence.is_online([1]))[1] is True
    await b.session_closed(P(1))
    await b.session_closed(P(2))
    assert await presence.is_online([1, 2]) == {1: False, 2: False}
    assert not await kv.exists(presence_key(1))


async def test_close_removes_this_nodes_entries(
    kv: KeyValue, trackers: tuple[PresenceTracker, PresenceTracker]
) -> None:
    a, b = trackers
    await a.session_opened(P(7))
    await b.session_opened(P(8))
    await a.close()  # node A shuts down cleanly with a session still counted
    assert await Presence(kv).is_online([7, 8]) == {7: False, 8: True}


async def test_a_dead_node_lapses_and_a_live_one_refreshes(kv: KeyValue) -> None:
    dead = PresenceTracker(kv, "dead", ttl=0.4, refresh=60)   # never refreshes in time
    live = PresenceTracker(kv, "live", ttl=0.4, refresh=0.1)
    await dead.start()
    await live.start()
    try:
        await dead.session_opened(P(1))
        await live.session_opened(P(2))
        presence = Presence(kv)
        assert await presence.is_online([1, 2]) == {1: True, 2: True}
        await asyncio.sleep(0.8)
        assert await presence.is_online([1, 2]) == {1: False, 2: True}
    finally:
        await dead.close()
        await live.close()


async def test_stale_field_beside_a_live_one(kv: KeyValue) -> None:
    """A crashed node's field stays in the hash another node keeps alive; its
    deadline, not the key's existence, decides."""
    await kv.hset(presence_key(5), "crashed", "1000")  # deadline long past
    await kv.expire(presence_key(5), 30)
    assert (await Presence(kv).is_online([5]))[5] is False
    await kv.hset(presence_key(5), "other", "9999999999999")
    assert (await Presence(kv).is_online([5]))[5] is True


async def test_plain_string_key_counts_as_online(kv: KeyValue) -> None:
    await kv.set(presence_key(9), "node-x", ttl=30)
    assert await Presence(kv).is_online([9, 10]) == {9: True, 10: False}


async def test_quick_open_close_leaves_nothing(
    kv: KeyValue, trackers: tuple[PresenceTracker, PresenceTracker]
) -> None:
    """Calls not awaited one by one (as the broker's tasks may run) still end in
    the right state: the writer always writes the latest count."""
    a, _b = trackers
    await asyncio.gather(*(a.session_opened(P(u)) for u in range(20)),
                         *(a.session_closed(P(u)) for u in range(0, 20, 2)))
    flags = await Presence(kv).is_online(range(20))
    assert [u for u, on in flags.items() if on] == list(range(1, 20, 2))
    assert a.users_here == 10
