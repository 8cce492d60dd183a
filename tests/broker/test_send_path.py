"""The send path over real sockets: exactly one answer per receipt, in order, when
sends are pipelined, refused at once or later, withdrawn by a closing session,
drained by a shutting-down broker; replay against a store that commits out of id
order; flow control that throttles only the publisher of a congested consumer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from stompim.broker import Principal
from stompim.frames import Command

from .conftest import BrokerFactory, Harness, wait_for
from .test_handler import FakeChat, chat_hub  # noqa: F401 - fixture

ChatHub = tuple[Harness, FakeChat]
ROOM = "/topic/chat/room"


def answers(frames: list) -> list[tuple[str | None, str | None]]:
    return [(f.get("receipt-id"), f.get("message-id") or f.get("x-error-code"))
            for f in frames if f.command is Command.RECEIPT]


async def test_pipelined_sends_stored_and_refused_are_answered_in_order(
        chat_hub: ChatHub, transport: str) -> None:  # noqa: F811
    """Good, refused at once, refused in the batch, good: four answers, in order."""
    hub, chat = chat_hub
    client = await hub.connected(transport, "alice")
    chat.commit_gate.clear()
    for receipt, body in (("a", b"one"), ("b", b"refuse"), ("c", b"refuse later"),
                          ("d", b"four")):
        await client.send_frame("SEND", {"destination": ROOM, "receipt": receipt}, body)
    await chat.wait_begun(4)
    await client.no_frame(0.05)          # nothing before the first is stored
    chat.commit_gate.set()
    got = [await client.frame() for _ in range(4)]
    assert answers(got) == [("a", "db-1"), ("b", "3001"), ("c", "2003"), ("d", "db-2")]


async def test_a_closing_session_withdraws_its_sends(chat_hub: ChatHub) -> None:  # noqa: F811
    hub, chat = chat_hub
    client = await hub.connected("tcp", "alice")
    chat.commit_gate.clear()
    for n in range(3):
        await client.send_frame("SEND", {"destination": ROOM, "receipt": f"r{n}"}, b"x")
    await chat.wait_begun(3)
    await client.send_raw(b"NONSENSE\n\n\x00")
    frames = await client.closed()
    assert [f.command for f in frames] == [Command.ERROR]
    chat.commit_gate.set()
    await wait_for(lambda: chat.writer is None)
    assert chat.withdrawn == 3 and chat.stored == {}


async def test_disconnect_receipt_comes_after_the_sends_it_follows(
        chat_hub: ChatHub, transport: str) -> None:  # noqa: F811
    hub, chat = chat_hub
    client = await hub.connected(transport, "alice")
    chat.commit_gate.clear()
    await client.send_frame("SEND", {"destination": ROOM, "receipt": "m"}, b"x")
    await client.send_frame("DISCONNECT", {"receipt": "bye"})
    await chat.wait_begun(1)
    await client.no_frame(0.05)
    chat.commit_gate.set()
    frames = await client.closed()
    assert answers(frames) == [("m", "db-1"), ("bye", None)]


async def test_shutdown_answers_sends_in_flight_then_errors(
        make_broker: BrokerFactory, transport: str) -> None:
    hub = await make_broker(open_generic_destinations=False)
    chat = FakeChat(hub.broker)
    hub.broker.add_handler(chat)
    client = await hub.connected(transport, "alice")
    idle = await hub.connected(transport, "bob")
    chat.commit_gate.clear()
    for n in range(3):
        await client.send_frame("SEND", {"destination": ROOM, "receipt": f"r{n}"}, b"x")
    await chat.wait_begun(3)
    closing = asyncio.get_running_loop().create_task(hub.broker.close())
    [error] = await idle.closed()            # nothing in flight: closed at once
    assert error.get("message") == "server shutting down"
    await client.send_frame("SEND", {"destination": ROOM, "receipt": "late"}, b"y")
    await client.no_frame(0.05)
    chat.commit_gate.set()
    frames = await client.closed()
    assert answers(frames) == [("r0", "db-1"), ("r1", "db-2"), ("r2", "db-3")]
    assert frames[-1].command is Command.ERROR
    assert frames[-1].get("message") == "server shutting down"
    await closing
    assert chat.begun == 3          # the SEND after the shutdown was never read


async def test_shutdown_drain_is_bounded(make_broker: BrokerFactory) -> None:
    hub = await make_broker(send_drain_ms=200)
    chat = FakeChat(hub.broker)
    hub.broker.add_handler(chat)
    client = await hub.connected("tcp", "alice")
    chat.commit_gate.clear()
    await client.send_frame("SEND", {"destination": ROOM, "receipt": "stuck"}, b"x")
    await chat.wait_begun(1)
    started = time.monotonic()
    await hub.broker.close()
    assert time.monotonic() - started < 3
    frames = await client.closed()
    assert [f.get("message") for f in frames] == ["server shutting down"]
    chat.commit_gate.set()
    await wait_for(lambda: chat.writer is None)
    assert chat.withdrawn == 1


class OutOfOrderStore(FakeChat):
    """Two nodes writing one MySQL: id 11 commits (on node A) before id 10 (node B)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)   # type: ignore[arg-type]
        self.rows: list[tuple[int, bytes]] = []

    async def replay(self, principal: Principal, destination: str,
                     since_seq: int) -> list[tuple[dict[str, str], bytes]]:
        return [({"message-id": str(i), "seq": str(i)}, body)
                for i, body in sorted(self.rows) if i > since_seq]

    def begin_send(self, principal: Principal, destination: str,
                   headers: Mapping[str, str], body: bytes) -> asyncio.Future[Mapping[str, str]]:
        raise AssertionError("not used")


async def test_replay_across_nodes_that_commit_out_of_id_order(
        make_broker: BrokerFactory, transport: str) -> None:
    hub = await make_broker()
    store = OutOfOrderStore(hub.broker)
    hub.broker.add_handler(store)
    publish = hub.broker.publisher.publish
    store.rows = [(9, b"nine"), (11, b"eleven")]     # 10 is not committed yet
    reader = await hub.connected(transport, "bob")
    await reader.subscribe(ROOM, sub_id="c", x_since_seq="8")
    replayed = await reader.messages(2)
    assert [m.body for m in replayed] == [b"nine", b"eleven"]
    await publish(ROOM, b"eleven", {"message-id": "11", "seq": "11"})   # late live copy
    store.rows.append((10, b"ten"))                                     # B commits 10
    await publish(ROOM, b"ten", {"message-id": "10", "seq": "10"})
    await publish(ROOM, b"twelve", {"message-id": "12", "seq": "12"})
    got = await reader.messages(2)
    assert [m.body for m in got] == [b"ten", b"twelve"]
    await reader.no_frame(0.05)


async def congest(hub: Harness) -> None:
    """Bob subscribes to /topic/stuck and stops reading; carol publishes there until
    bob's pending bytes pass the soft limit (bob's kernel buffers fill first)."""
    stuck = await hub.open("tcp", rcvbuf=4096)
    await stuck.connect("bob", "pb")
    await stuck.subscribe("/topic/stuck")
    flooder = await hub.connected("tcp", "carol")
    soft = hub.broker.soft_pending_bytes
    for n in range(5000):
        await flooder.send("/topic/stuck", b"x" * 2048, receipt=f"f{n}")
        if any(s.pending_bytes > soft for s in hub.broker.sessions):
            return
    raise AssertionError("bob never got congested")


async def test_a_stuck_subscriber_does_not_slow_an_unrelated_publisher(
        make_broker: BrokerFactory) -> None:
    hub = await make_broker(max_pending_bytes=256 * 1024)
    await congest(hub)
    publisher = await hub.connected("tcp", "alice")
    started = time.monotonic()
    for _ in range(199):
        await publisher.send("/topic/elsewhere", b"y")
    await publisher.send("/topic/elsewhere", b"y", receipt="last")
    elapsed = time.monotonic() - started
    # throttled, 200 SENDs would take 200 x 50 ms = 10 s; unthrottled, well under 1 s
    assert elapsed < 1.0, elapsed
    assert hub.broker.user_session_count(2) == 1   # bob is still there (not yet too long)


async def test_a_subscriber_stuck_for_too_long_is_dropped(make_broker: BrokerFactory) -> None:
    hub = await make_broker(max_pending_bytes=256 * 1024, slow_consumer_ms=300,
                            connect_timeout_ms=100)
    await congest(hub)
    assert hub.broker.user_session_count(2) == 1
    await wait_for(lambda: hub.broker.user_session_count(2) == 0, timeout=5)
    assert hub.broker.user_session_count(3) == 1


async def test_user_queues_are_private_over_the_wire(hub: Harness, transport: str) -> None:
    alice = await hub.connected(transport, "alice")
    bob = await hub.connected(transport, "bob")
    await alice.subscribe("/user/queue/inbox", sub_id="mine")
    await bob.subscribe("/user/queue/inbox", sub_id="mine")
    await bob.send("/user/queue/inbox", b"bob to bob", receipt="b")
    [got] = await bob.messages(1)
    assert got.body == b"bob to bob"
    await alice.send("/user/queue/inbox", b"alice to alice", receipt="a")
    [mine] = await alice.messages(1)
    assert mine.body == b"alice to alice"
    await bob.no_frame(0.05)
    await alice.send_frame("SEND", {"destination": "/user/2/queue/inbox", "receipt": "x"},
                           b"into bob's")
    [error] = await alice.closed()
    assert error.command is Command.ERROR and "unknown destination" in (
        error.get("message") or "")
