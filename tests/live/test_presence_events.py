"""stompim.im.presence_events with two announcers ("nodes") over one key-value store
(in-process, and Redis), the real presence tracker of each node, the real presence
table, and timers fired by hand: who announces what, and when nothing is announced."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from stompim.im.presence import PresenceTracker
from stompim.im.presence_events import PresenceAnnouncer, shown_key
from stompim.store import Database, KeyValue
from stompim.store.presence import PresenceRepository

from ._timers import Clock, Timers


@dataclass(frozen=True)
class P:
    user_id: int


@dataclass(frozen=True)
class F:
    friend_id: int


class Friends:
    async def friends_of(self, user_id: int) -> list[F]:
        return [F(2), F(3)] if user_id == 1 else []


class Out:
    def __init__(self) -> None:
        self.sent: list[tuple[int, list[int], dict[str, Any]]] = []

    async def presence(self, user_id: int, audience: Any, event: dict[str, Any]) -> None:
        self.sent.append((user_id, list(audience), event))


class Node:
    def __init__(self, name: str, kv: KeyValue, repo: PresenceRepository, out: Out,
                 clock: Clock) -> None:
        self.timers = Timers()
        self.tracker = PresenceTracker(kv, name, clock=clock)
        self.announcer = PresenceAnnouncer(
            kv=kv, node_id=name, friends=Friends(), settings=repo, publisher=out,
            debounce_ms=5000, clock=clock, schedule=self.timers,
        )

    async def open(self, uid: int) -> None:
        await self.tracker.session_opened(P(uid))
        await self.announcer.session_opened(P(uid))

    async def close(self, uid: int) -> None:
        await self.tracker.session_closed(P(uid))
        await self.announcer.session_closed(P(uid))

    async def debounce_passes(self) -> None:
        self.timers.fire_all()
        await asyncio.wait_for(asyncio.gather(*self.announcer._tasks), 5)


@pytest.fixture
async def world(db: Database, kv: KeyValue) -> Any:
    from stompim.store import migrate

    await migrate(db)
    repo, out, clock = PresenceRepository(db), Out(), Clock()
    a, b = Node("a", kv, repo, out, clock), Node("b", kv, repo, out, clock)
    for n in (a, b):
        await n.tracker.start()
        await n.announcer.start()
    yield a, b, out, repo, clock, kv
    for n in (a, b):
        await n.announcer.close()
        await n.tracker.close()


async def test_online_once_offline_once_with_last_seen(world: Any) -> None:
    a, b, out, repo, clock, kv = world
    await a.open(1)
    await b.open(1)  # a second device on the other node
    assert [(u, aud, e["state"]) for u, aud, e in out.sent] == [(1, [2, 3], "online")]
    assert await kv.get(shown_key(1)) == "a"
    await a.close(1)
    await a.debounce_passes()  # b still holds a session: nothing
    assert len(out.sent) == 1 and a.announcer.stats.suppressed == 1
    await b.close(1)
    clock.now += 5000
    await b.debounce_passes()
    assert [e["state"] for _, _, e in out.sent] == ["online", "offline"]
    assert out.sent[1][2]["lastSeen"] == clock.now
    assert await repo.of_users([1]) == {1: (False, clock.now)}
    assert await kv.get(shown_key(1)) is None
    await b.debounce_passes()
    assert len(out.sent) == 2


async def test_a_quick_reconnect_on_either_node_tells_nobody(world: Any) -> None:
    a, b, out, _repo, _clock, _kv = world
    await a.open(1)
    await a.close(1)
    await a.open(1)  # same node, within the debounce: the pending offline is cancelled
    assert a.timers.live() == []
    await a.close(1)
    await b.open(1)  # the other node, within the debounce
    await a.debounce_passes()  # a's pending offline finds b's session
    assert [e["state"] for _, _, e in out.sent] == ["online"]
    assert b.announcer.stats.online_sent == 0


async def test_users_without_friends_and_hidden_users(world: Any) -> None:
    a, _b, out, repo, clock, _kv = world
    await repo.set_hidden(1, True, clock.now)
    await a.open(1)
    await a.close(1)
    await a.debounce_passes()
    assert out.sent == [] and a.announcer.stats.suppressed == 2
    await a.open(9)  # no friends: an event to nobody
    assert out.sent == [(9, [], out.sent[0][2])]
