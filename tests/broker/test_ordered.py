"""Ordered streams (DestinationHandler.ordered): a subscription gets its messages in
`seq` order and exactly once, whatever order the publishes come in. A publish that
comes past the next seq (another node's came late, or was lost) is held while the
handler's replay fills the hole; one at or below what was delivered is dropped; a
SUBSCRIBE without x-since-seq starts at the handler's head."""

from __future__ import annotations

import asyncio

import pytest
from stompclient import StompClient

from stompim.broker import Principal
from stompim.errors import Unavailable

from .conftest import BrokerFactory, Harness
from .test_handler import FakeChat

DEST = "/topic/chat/room"


@pytest.fixture
async def ordered_hub(make_broker: BrokerFactory) -> tuple[Harness, FakeChat]:
    hub = await make_broker(open_generic_destinations=False)
    chat = FakeChat(hub.broker)
    chat.ordered_streams = True
    hub.broker.add_handler(chat)
    return hub, chat


async def publish(hub: Harness, chat: FakeChat, seq: int) -> None:
    """Publish the stored message `seq` now (as a node does after its commit)."""
    body = dict(chat.stored[DEST])[seq]
    await hub.broker.publisher.publish(DEST, body, {"seq": str(seq), "message-id": f"db-{seq}"})


async def bodies(client: StompClient, count: int) -> list[tuple[str | None, bytes]]:
    got = [await client.frame() for _ in range(count)]
    assert all(f.command.value == "MESSAGE" for f in got), got
    return [(f.get("seq"), f.body) for f in got]


async def subscribed(hub: Harness, transport: str, **headers: str) -> StompClient:
    reader = await hub.connected(transport, "bob")
    await reader.send_frame("SUBSCRIBE", {"destination": DEST, "id": "c", "receipt": "sub",
                                          **headers})
    await reader.receipt("sub")
    return reader


async def test_a_subscription_without_since_starts_at_the_head(
        ordered_hub: tuple[Harness, FakeChat], transport: str) -> None:
    hub, chat = ordered_hub
    for i in range(1, 4):
        chat.store(DEST, f"m{i}".encode())
    reader = await subscribed(hub, transport)
    await publish(hub, chat, 2)            # stored before the SUBSCRIBE, published late
    chat.store(DEST, b"m4")
    await publish(hub, chat, 4)
    assert await bodies(reader, 1) == [("4", b"m4")]
    await reader.no_frame(0.2)


async def test_a_publish_past_the_next_seq_waits_for_the_hole_to_be_filled(
        ordered_hub: tuple[Harness, FakeChat], transport: str) -> None:
    """Seq 1 and 2 stored in that order (2 committed after 1), but 2's publish comes
    first (1 was stored on a node whose publish lags): 1 is fetched, then 2 goes out;
    1's late publish is dropped."""
    hub, chat = ordered_hub
    reader = await subscribed(hub, transport)
    chat.store(DEST, b"m1")
    chat.store(DEST, b"m2")
    await publish(hub, chat, 2)
    assert await bodies(reader, 2) == [("1", b"m1"), ("2", b"m2")]
    await publish(hub, chat, 1)             # the late one
    chat.store(DEST, b"m3")
    await publish(hub, chat, 3)
    assert await bodies(reader, 1) == [("3", b"m3")]
    await reader.no_frame(0.2)


async def test_live_messages_behind_a_hole_keep_their_order(
        ordered_hub: tuple[Harness, FakeChat], transport: str) -> None:
    """A lost publish (seq 1) and, while its hole is being filled, more live ones."""
    hub, chat = ordered_hub
    reader = await subscribed(hub, transport)
    for i in range(1, 6):
        chat.store(DEST, f"m{i}".encode())
    chat.replay_gate.clear()
    chat.replay_started.clear()
    await publish(hub, chat, 2)             # opens the hole (1 never published)
    await asyncio.wait_for(chat.replay_started.wait(), 3)
    for seq in (4, 3, 5, 2):                # held while the fill runs, any order
        await publish(hub, chat, seq)
    chat.replay_gate.set()
    assert await bodies(reader, 5) == [(str(i), f"m{i}".encode()) for i in range(1, 6)]
    await reader.no_frame(0.2)


async def test_a_resume_and_a_hole_during_it(
        ordered_hub: tuple[Harness, FakeChat], transport: str) -> None:
    hub, chat = ordered_hub
    for i in range(1, 4):
        chat.store(DEST, f"m{i}".encode())
    reader = await hub.connected(transport, "bob")
    chat.replay_gate.clear()
    chat.replay_started.clear()
    await reader.send_frame("SUBSCRIBE", {"destination": DEST, "id": "c", "x-since-seq": "1",
                                          "receipt": "sub"})
    await asyncio.wait_for(chat.replay_started.wait(), 3)
    chat.store(DEST, b"m4")
    chat.store(DEST, b"m5")
    await publish(hub, chat, 5)             # during the replay; 4's publish never comes
    chat.replay_gate.set()
    await reader.receipt("sub")
    assert await bodies(reader, 4) == [(str(i), f"m{i}".encode()) for i in range(2, 6)]
    await reader.no_frame(0.2)


class FailingFill(FakeChat):
    """Replays for a SUBSCRIBE, then its store stops answering."""

    broken = False

    async def replay(self, principal: Principal, destination: str,
                     since_seq: int) -> list[tuple[dict[str, str], bytes]]:
        if self.broken:
            raise Unavailable("database", "the store does not answer")
        return await super().replay(principal, destination, since_seq)


async def test_a_hole_that_cannot_be_filled_ends_the_session_without_skipping(
        make_broker: BrokerFactory, transport: str) -> None:
    hub = await make_broker(open_generic_destinations=False)
    chat = FailingFill(hub.broker)
    chat.ordered_streams = True
    hub.broker.add_handler(chat)
    reader = await subscribed(hub, transport)
    chat.store(DEST, b"m1")
    await publish(hub, chat, 1)
    assert await bodies(reader, 1) == [("1", b"m1")]
    chat.broken = True
    chat.store(DEST, b"m2")
    chat.store(DEST, b"m3")
    await publish(hub, chat, 3)
    frames = await reader.closed()
    assert [f.command.value for f in frames] == ["ERROR"], frames   # never m3 before m2
    assert "service unavailable" in (frames[0].get("message") or "")


async def test_a_since_past_the_head_starts_at_the_head(
        ordered_hub: tuple[Harness, FakeChat], transport: str) -> None:
    """A cursor from elsewhere (another database, a client's bug) past what is stored
    must not swallow the messages that come next."""
    hub, chat = ordered_hub
    chat.store(DEST, b"m1")
    reader = await subscribed(hub, transport, **{"x-since-seq": "40"})
    chat.store(DEST, b"m2")
    await publish(hub, chat, 2)
    assert await bodies(reader, 1) == [("2", b"m2")]


async def test_a_publish_only_a_little_late_closes_the_hole_without_a_query(
        ordered_hub: tuple[Harness, FakeChat], transport: str) -> None:
    """Seq 2 comes before 1 (two nodes' publishes crossed in Redis), 1 follows at once:
    both go out in order and the store is not asked (a big group's subscribers would
    all ask at once)."""
    hub, chat = ordered_hub
    reader = await subscribed(hub, transport)
    asked: list[int] = []
    replay = chat.replay

    async def counting(principal: Principal, destination: str,
                       since_seq: int) -> list[tuple[dict[str, str], bytes]]:
        asked.append(since_seq)
        return await replay(principal, destination, since_seq)

    chat.replay = counting   # type: ignore[method-assign]
    chat.store(DEST, b"m1")
    chat.store(DEST, b"m2")
    await publish(hub, chat, 2)
    await publish(hub, chat, 1)
    assert await bodies(reader, 2) == [("1", b"m1"), ("2", b"m2")]
    await reader.no_frame(0.3)
    assert asked == []


async def test_the_same_hole_of_many_subscribers_is_one_query(
        ordered_hub: tuple[Harness, FakeChat], transport: str) -> None:
    """A lost publish to a group with many members online on this node: one replay
    serves them all."""
    hub, chat = ordered_hub
    readers = [await subscribed(hub, transport) for _ in range(5)]
    asked: list[int] = []
    replay = chat.replay

    async def counting(principal: Principal, destination: str,
                       since_seq: int) -> list[tuple[dict[str, str], bytes]]:
        asked.append(since_seq)
        return await replay(principal, destination, since_seq)

    chat.replay = counting   # type: ignore[method-assign]
    chat.store(DEST, b"m1")                 # never published: lost
    chat.store(DEST, b"m2")
    await publish(hub, chat, 2)
    for reader in readers:
        assert await bodies(reader, 2) == [("1", b"m1"), ("2", b"m2")]
    assert asked == [0]
