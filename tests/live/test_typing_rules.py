"""The rules of stompim.im.typing_signals on an injected clock and timer: budget per
session, redundant starts and stops, silent drops for non-members and blocked pairs,
and the server's own "stop" when a "start" expires."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from stompim.im.errors import CONVERSATION_NOT_FOUND, ImError
from stompim.im.messages import ChatType
from stompim.im.typing_signals import TypingEvent, TypingService, parse_signal
from stompim.store.conversations import ConversationRecord

from ._timers import Clock, Timers


def _conv(cid: int, kind: ChatType, a: int | None, b: int | None, gid: int | None) -> Any:
    return ConversationRecord(
        id=cid, chat_type=kind, user_a=a, user_b=b, group_id=gid, last_seq=0,
        created_at=0, updated_at=0,
    )


@dataclass
class Member:
    muted: bool = False


@dataclass
class World:
    convs: dict[int, Any] = field(default_factory=dict)
    members: dict[tuple[int, int], Member] = field(default_factory=dict)
    blocked: set[frozenset[int]] = field(default_factory=set)
    lookups: int = 0

    async def require_access(self, user_id: int, conversation_id: int) -> Any:
        self.lookups += 1
        conv = self.convs.get(conversation_id)
        if conv is not None and (
            (conv.chat_type is ChatType.PRIVATE and user_id in (conv.user_a, conv.user_b))
            or (conv.chat_type is ChatType.GROUP and (conv.group_id, user_id) in self.members)
        ):
            return conv
        raise ImError(CONVERSATION_NOT_FOUND, "conversation not found", 404)

    async def blocked_either(self, a: int, b: int) -> bool:
        return frozenset((a, b)) in self.blocked

    async def member(self, group_id: int, user_id: int) -> Member | None:
        return self.members.get((group_id, user_id))


class Out:
    def __init__(self) -> None:
        self.events: list[TypingEvent] = []

    async def typing(self, event: TypingEvent) -> None:
        self.events.append(event)




def _service(world: World, out: Out, clock: Clock, timers: Timers) -> TypingService:
    return TypingService(
        access=world, friends=world, groups=world, publisher=out, ttl_ms=6000,
        min_interval_ms=3000, session_limit=5, session_window_ms=10_000, clock=clock,
        schedule=timers,
    )


@pytest.fixture
def setup() -> tuple[World, Out, Clock, Timers, TypingService]:
    world = World()
    world.convs[1] = _conv(1, ChatType.PRIVATE, 10, 20, None)
    world.convs[2] = _conv(2, ChatType.GROUP, None, None, 7)
    world.members[(7, 10)] = Member()
    world.members[(7, 30)] = Member(muted=True)
    out, clock, timers = Out(), Clock(), Timers()
    return world, out, clock, timers, _service(world, out, clock, timers)


async def test_private_start_goes_to_the_peer_and_expires_with_a_stop(setup: Any) -> None:
    _world, out, clock, timers, svc = setup
    assert await svc.signal(10, "s1", 1, "start")
    [event] = out.events
    assert event.body() == {"event": "typing", "conversationId": 1, "chatType": "private",
                            "userId": 10, "state": "start", "ttlMs": 6000, "at": clock.now}
    assert event.target_id == 20 and timers.live() == [6.0]
    clock.now += 6000
    timers.fire_all()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert [e.state for e in out.events] == ["start", "stop"]
    assert out.events[1].body()["reason"] == "expired"
    assert svc.stats.expired == 1 and svc.active == 0
    # a stop after the expiry is redundant: nothing more goes out
    assert not await svc.signal(10, "s1", 1, "stop")
    assert svc.stats.dropped_redundant == 1 and len(out.events) == 2


async def test_repeated_start_is_held_back_but_keeps_the_indicator_alive(setup: Any) -> None:
    world, out, clock, timers, svc = setup
    assert await svc.signal(10, "s1", 1, "start")
    clock.now += 1000
    assert not await svc.signal(10, "s1", 1, "start")  # within min_interval
    assert len(out.events) == 1 and len(timers.live()) == 1  # re-armed, one timer
    lookups = world.lookups
    clock.now += 2500
    assert await svc.signal(10, "s1", 1, "start")  # past min_interval: forwarded again
    assert world.lookups == lookups + 1
    assert await svc.signal(10, "s1", 1, "stop")
    assert [e.state for e in out.events] == ["start", "start", "stop"]
    assert "reason" not in out.events[-1].body()
    assert timers.live() == [] and svc.active == 0
    timers.fire_all()
    await asyncio.sleep(0)
    assert len(out.events) == 3  # the cancelled expiry sends nothing


async def test_non_members_blocked_and_muted_are_dropped_silently(setup: Any) -> None:
    world, out, _clock, _timers, svc = setup
    assert not await svc.signal(99, "x", 1, "start")  # not a participant
    assert not await svc.signal(20, "y", 2, "start")  # not in the group
    assert not await svc.signal(10, "z", 404, "start")  # no such conversation
    assert svc.stats.dropped_not_member == 3
    assert not await svc.signal(30, "m", 2, "start")  # muted member
    world.blocked.add(frozenset((10, 20)))
    assert not await svc.signal(20, "b", 1, "start")
    assert svc.stats.dropped_not_allowed == 2
    assert out.events == [] and svc.active == 0
    assert await svc.signal(10, "g", 2, "start")
    assert out.events[0].body()["groupId"] == 7 and out.events[0].target_id == 7


async def test_the_budget_is_per_session_and_per_window(setup: Any) -> None:
    world, _out, clock, _timers, svc = setup
    results = []
    for _ in range(3):
        results.append(await svc.signal(10, "s1", 1, "start"))
        results.append(await svc.signal(10, "s1", 1, "stop"))
    assert results == [True, True, True, True, True, False]
    assert svc.stats.dropped_rate_limited == 1
    lookups = world.lookups
    assert not await svc.signal(99, "s1", 1, "start")  # over budget: no database work
    assert world.lookups == lookups
    assert await svc.signal(10, "s2", 1, "start")  # another session of the same user
    clock.now += 10_000
    assert await svc.signal(10, "s1", 1, "stop")  # new window: the refused stop again
    assert not await svc.signal(10, "s1", 1, "stop")  # nothing active any more
    assert svc.stats.dropped_redundant == 1


@pytest.mark.parametrize(("body", "ok"), [
    ({"conversationId": 5, "state": "start"}, (5, "start")),
    ({"conversationId": "5", "state": "stop"}, (5, "stop")),
    ({"conversationId": 5}, (5, "start")),
    ({"conversationId": 0}, None),
    ({"conversationId": True}, None),
    ({"conversationId": 5, "state": "typing"}, None),
    ({"conversationId": "9" * 20}, None),
    ([1], None),
])
def test_parse_signal(body: Any, ok: Any) -> None:
    if ok is None:
        with pytest.raises(ImError) as err:
            parse_signal(body)
        assert err.value.code == 9001
    else:
        assert parse_signal(body) == ok
