"""The DestinationHandler plug-in: receipts after the handler stored the message,
business refusals, replay with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

import pytest

from stompim.broker import Broker, Principal
from stompim.errors import Refusal

from .conftest import BrokerFactory, Harness


class FakeChat:
    """A tiny chat plug-in: keeps messages per destination with a seq.  Sends are
    stored in call order by one writer while `commit_gate` is open; a send whose
    Future was cancelled before its turn is withdrawn (counted, never stored)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.stored: dict[str, list[tuple[int, bytes]]] = {}
        self.commit_gate = asyncio.Event()
        self.commit_gate.set()
        self.replay_gate = asyncio.Event()
        self.replay_gate.set()
        self.replay_started = asyncio.Event()
        self.sends: list[tuple[int, str, dict[str, str]]] = []
        self.queue: list[tuple[Principal, str, dict[str, str], bytes,
                               asyncio.Future[Mapping[str, str]]]] = []
        self.writer: asyncio.Task[None] | None = None
        self.withdrawn = 0
        self.begun = 0
        self.begun_changed = asyncio.Event()

    async def wait_begun(self, count: int) -> None:
        """Until `count` sends were handed to begin_send (bounded)."""
        async with asyncio.timeout(5):
            while self.begun < count:
                self.begun_changed.clear()
                await self.begun_changed.wait()

    def handles(self, destination: str) -> bool:
        return destination.startswith(("/topic/chat/", "/queue/chat/", "/app/chat/"))

    async def authorize_subscribe(self, principal: Principal, destination: str) -> None:
        if destination == "/topic/chat/secret":
            raise Refusal(4002, "not a member of the group", 403)

    ordered_streams = False   # DestinationHandler.ordered: the stores' seqs have no holes

    def ordered(self, destination: str) -> bool:
        return self.ordered_streams

    async def head(self, principal: Principal, destination: str) -> int:
        rows = self.stored.get(destination, [])
        return rows[-1][0] if rows else 0

    async def replay(self, principal: Principal, destination: str,
                     since_seq: int) -> list[tuple[dict[str, str], bytes]]:
        self.replay_started.set()
        await self.replay_gate.wait()
        return [({"seq": str(seq), "message-id": f"db-{seq}"}, body)
                for seq, body in self.stored.get(destination, []) if seq > since_seq]

    def store(self, destination: str, body: bytes) -> int:
        rows = self.stored.setdefault(destination, [])
        seq = len(rows) + 1
        rows.append((seq, body))
        return seq

    def begin_send(self, principal: Principal, destination: str,
                   headers: Mapping[str, str], body: bytes) -> asyncio.Future[Mapping[str, str]]:
        self.begun += 1
        self.begun_changed.set()
        if body == b"refuse":
            raise Refusal(3001, "message send failed")
        done: asyncio.Future[Mapping[str, str]] = asyncio.get_running_loop().create_future()
        self.queue.append((principal, destination, dict(headers), body, done))
        if self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self._write())
        return done

    async def _write(self) -> None:
        """Stores queued sends in call order once the gate is open."""
        while self.queue:
            await self.commit_gate.wait()
            principal, destination, headers, body, done = self.queue.pop(0)
            if done.cancelled():
                self.withdrawn += 1
                continue
            if body == b"refuse later":
                done.set_exception(Refusal(2003, "not friends"))
                continue
            target = "/topic/chat/room" if destination.startswith("/app/") else destination
            seq = self.store(target, body)
            self.sends.append((principal.user_id, target, headers))
            await self.broker.publisher.publish(target, body, {"seq": str(seq),
                                                               "message-id": f"db-{seq}",
                                                               "sender": principal.username})
            done.set_result({"message-id": f"db-{seq}", "seq": str(seq)})
        self.writer = None


@pytest.fixture
async def chat_hub(make_broker: BrokerFactory) -> tuple[Harness, FakeChat]:
    hub = await make_broker(open_generic_destinations=False)
    chat = FakeChat(hub.broker)
    hub.broker.add_handler(chat)
    return hub, chat


async def test_receipt_only_after_the_handler_stored(chat_hub: tuple[Harness, FakeChat],
                                          transport: str) -> None:
    hub, chat = chat_hub
    member = await hub.connected(transport, "bob")
    await member.subscribe("/topic/chat/room")
    sender = await hub.connected(transport, "alice")
    chat.commit_gate.clear()
    await sender.send_frame("SEND", {"destination": "/app/chat/group", "receipt": "r1",
                                     "x-client-msg-id": "c1"}, b"hi")
    await sender.no_frame(0.2)
    assert chat.sends == []
    chat.commit_gate.set()
    receipt = await sender.frame()
    assert receipt.command.value == "RECEIPT" and receipt.get("receipt-id") == "r1"
    assert receipt.get("seq") == "1" and receipt.get("message-id") == "db-1"
    assert chat.sends[0][2]["x-client-msg-id"] == "c1"
    msg = await member.frame()
    assert msg.body == b"hi" and msg.get("seq") == "1" and msg.get("sender") == "alice"


async def test_frames_after_async_send_keep_order(chat_hub: tuple[Harness, FakeChat]) -> None:
    hub, chat = chat_hub
    sender = await hub.connected("tcp", "alice")
    chat.commit_gate.clear()
    await sender.send_frame("SEND", {"destination": "/topic/chat/room", "receipt": "a"}, b"1")
    await sender.send_frame("SEND", {"destination": "/topic/chat/room", "receipt": "b"}, b"2")
    await chat.wait_begun(2)       # both handed over while the first is not stored yet
    chat.commit_gate.set()
    assert (await sender.frame()).get("receipt-id") == "a"
    assert (await sender.frame()).get("receipt-id") == "b"
    assert [b for _, b in chat.stored["/topic/chat/room"]] == [b"1", b"2"]


async def test_business_refusal_keeps_connection(chat_hub: tuple[Harness, FakeChat],
                                                 transport: str) -> None:
    hub, _ = chat_hub
    client = await hub.connected(transport, "alice")
    await client.subscribe("/user/queue/errors", sub_id="err")
    await client.send_frame("SEND", {"destination": "/queue/chat/2", "receipt": "r9"},
                            b"refuse")
    msg = await client.frame()
    assert msg.command.value == "MESSAGE" and msg.get("subscription") == "err"
    assert msg.get("code") == "3001" and msg.get("receipt-id") == "r9"
    assert json.loads(msg.body) == {"code": 3001, "message": "message send failed",
                                    "receipt": "r9"}
    refusal = await client.frame()     # the refusal answers the receipt too
    assert refusal.command.value == "RECEIPT" and refusal.get("receipt-id") == "r9"
    assert refusal.get("x-error-code") == "3001" and refusal.get("message-id") is None
    assert refusal.get("x-error-message") == "message send failed"
    ok = await client.send("/queue/chat/2", b"fine", receipt="r10")
    assert ok is not None and ok.command.value == "RECEIPT"


async def test_authorize_subscribe_refusal(chat_hub: tuple[Harness, FakeChat]) -> None:
    hub, _ = chat_hub
    client = await hub.connected("tcp", "alice")
    await client.send_frame("SUBSCRIBE", {"destination": "/topic/chat/secret", "id": "1",
                                          "receipt": "s"})
    frames = await client.closed()
    assert frames[-1].command.value == "ERROR" and frames[-1].get("receipt-id") == "s"
    assert "not a member" in (frames[-1].get("message") or "")


async def test_replay_no_gap_no_duplicate(chat_hub: tuple[Harness, FakeChat],
                                          transport: str) -> None:
    hub, chat = chat_hub
    dest = "/topic/chat/room"
    for i in range(1, 5):
        chat.store(dest, f"m{i}".encode())     # seq 1..4 stored before SUBSCRIBE
    reader = await hub.connected(transport, "bob")
    chat.replay_gate.clear()
    await reader.send_frame("SUBSCRIBE", {"destination": dest, "id": "c", "x-since-seq": "2",
                                          "receipt": "replayed"})
    await asyncio.wait_for(chat.replay_started.wait(), 3)
    # live messages while the replay query runs: seq 5 and 6 get stored AND published
    writer = await hub.connected(transport, "alice")
    for body in (b"m5", b"m6"):
        reply = await writer.send(dest, body, receipt=body.decode())
        assert reply is not None and reply.command.value == "RECEIPT"
    chat.replay_gate.set()   # replay now returns 3..6; 5 and 6 are also buffered live
    await reader.receipt("replayed")
    await writer.send(dest, b"m7", receipt="7")
    got = [await reader.frame() for _ in range(5)]
    assert [(m.get("seq"), m.body) for m in got] == [
        ("3", b"m3"), ("4", b"m4"), ("5", b"m5"), ("6", b"m6"), ("7", b"m7")]
    assert all(m.get("subscription") == "c" for m in got)
    await reader.no_frame(0.1)


async def test_per_user_chat_queue_reaches_all_devices(
        chat_hub: tuple[Harness, FakeChat]) -> None:
    hub, _ = chat_hub
    phone = await hub.connected("tcp", "bob")
    web = await hub.connected("ws", "bob")
    await phone.subscribe("/user/queue/chat")
    await web.subscribe("/queue/chat/2")
    sender = await hub.connected("tcp", "alice")
    await sender.send("/queue/chat/2", b"yo", receipt="r")
    assert (await phone.frame()).body == b"yo"
    assert (await web.frame()).body == b"yo"
