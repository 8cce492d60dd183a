"""Two nodes on one MariaDB (and Redis), 20 senders spread over both, one receiver on
node A that goes away and comes back with x-since-seq while messages keep coming:
every message reaches it exactly once, live or replayed, and in the order of its inbox.
Message ids are allocated by MariaDB for both nodes, so their commits (and publishes)
interleave out of id order; the cursor is the receiver's inbox seq (the `seq` of
/queue/chat/<me>), which commits in order, and the broker delivers it in order.
On SQLite (one node: a SQLite file serves one node) the same traffic through one node.

Also: a publish that comes late or never (a node whose bridge lags, or lost it) while
later messages go out: the receiver still gets every message once, in order, live
(the broker fills the hole from the store) and after a resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from stompclient import StompClient

from stompim.app import Node
from stompim.config import Config
from stompim.frames import Command

from ._nodeproc import JWT_SECRET
from ._people import answers, chat, connected, send_chat
from .conftest import rest_of

pytestmark = pytest.mark.parametrize(
    "node_backend",
    ["sqlite", pytest.param("mysql+redis", marks=[pytest.mark.mysql, pytest.mark.redis])],
    indirect=True,
)

SENDERS = 20
PER_PHASE = 10


@pytest.fixture
async def nodes(node_backend: dict[str, dict[str, str]]) -> AsyncIterator[tuple[Node, Node]]:
    started: list[Node] = []
    shared = "mysql" in node_backend["database"]["url"]
    try:
        for node_id in ("A", "B") if shared else ("A",):
            node = Node(Config().replace(
                server={"host": "127.0.0.1", "http_port": 0, "ws_port": 0, "tcp_port": 0,
                        "node_id": node_id},
                auth={"bcrypt_rounds": 4, "jwt_secret": JWT_SECRET},
            ).replace(**node_backend))
            await node.start()
            started.append(node)
        yield started[0], started[-1]
    finally:
        for node in reversed(started):
            await node.stop()


async def _phase(senders: list[StompClient], to: int, phase: int) -> set[str]:
    """Every sender pipelines PER_PHASE messages; the ids answered "stored"."""
    async def one(index: int, client: StompClient) -> list[str]:
        for n in range(PER_PHASE):
            await send_chat(client, f"p{phase}-{n}",
                            chat(to, f"{phase}.{index}.{n}", f"m-{phase}-{index}-{n}"))
        got = await answers(client, PER_PHASE)
        assert all(f.get("message-id") for f in got), got
        return [f.get("message-id") or "" for f in got]
    done = await asyncio.gather(*[one(i, c) for i, c in enumerate(senders)])
    return {mid for ids in done for mid in ids}


async def _receive(client: StompClient, seen: list[str], want: set[str],
                   seqs: list[int]) -> None:
    """MESSAGEs until every id of `want` was seen (each id noted as often as it came,
    and its `seq`)."""
    async with asyncio.timeout(30):
        while not want <= set(seen):
            frame = await client.frame(30)
            assert frame.command is Command.MESSAGE, frame
            seen.append(frame.get("message-id") or "")
            seqs.append(int(frame.get("seq") or 0))


async def test_a_receiver_back_with_since_seq_gets_every_message_once_across_two_nodes(
        nodes: tuple[Node, Node], http: aiohttp.ClientSession) -> None:
    a, b = nodes
    rest = rest_of(http, a.ports.http)
    receiver = await rest.user("receiver")
    people = [await rest.user(f"sender{i:02d}") for i in range(SENDERS)]
    for person in people:
        await rest.befriend(person, receiver)
    senders = [await connected((a if i % 2 else b).ports.tcp, p[1])
               for i, p in enumerate(people)]
    inbox = await connected(a.ports.tcp, receiver[1])
    seen: list[str] = []
    seqs: list[int] = []
    try:
        await inbox.subscribe("/user/queue/chat", "chat")
        first = await _phase(senders, receiver[0], 1)                 # live
        await _receive(inbox, seen, first, seqs)
        last_seq = seqs[-1]
        await inbox.close()
        missed = await _phase(senders, receiver[0], 2)                # while away
        inbox = await connected(a.ports.tcp, receiver[1])
        await inbox.send_frame("SUBSCRIBE", {"destination": "/user/queue/chat", "id": "chat",
                                             "x-since-seq": str(last_seq), "receipt": "back"})
        during = asyncio.ensure_future(_phase(senders, receiver[0], 3))   # live + replay
        back = await inbox.receipt("back")
        assert back.command is Command.RECEIPT
        third = await during
        everything = first | missed | third
        await _receive(inbox, seen, everything, seqs)
        await inbox.no_frame(0.3)
    finally:
        for client in [*senders, inbox]:
            await client.close()
    assert len(everything) == 3 * SENDERS * PER_PHASE
    assert sorted(seen) == sorted(everything)          # each exactly once
    assert seqs == list(range(1, len(everything) + 1))  # in inbox order, live and replayed


class HeldPublisher:
    """A node's chat publisher that holds back the messages whose content starts with
    "late" until `release()` (a bridge that lags) and never publishes those starting
    with "lost" (a publish lost on the way)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.held: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def message_stored(self, message: Any) -> None:
        if message.content.startswith("late"):
            self.held.append(message)
        elif not message.content.startswith("lost"):
            await self._inner.message_stored(message)

    async def release(self) -> None:
        held, self.held = self.held, []
        for message in held:
            await self._inner.message_stored(message)


async def _stored(client: StompClient, receipt: str, to: int, text: str) -> None:
    await send_chat(client, receipt, chat(to, text))
    [answer] = await answers(client, 1)
    assert answer.get("message-id"), answer


async def _texts(client: StompClient, count: int) -> list[tuple[str, str]]:
    out = []
    for frame in await client.messages(count):
        out.append((frame.get("seq") or "", orjson.loads(frame.body)["content"]))
    return out


async def test_a_late_or_lost_publish_is_neither_lost_nor_doubled(
        nodes: tuple[Node, Node], http: aiohttp.ClientSession) -> None:
    a, b = nodes
    rest = rest_of(http, a.ports.http)
    receiver = await rest.user("receiver")
    near, far = await rest.user("near"), await rest.user("far")
    for person in (near, far):
        await rest.befriend(person, receiver)
    assert b.services is not None
    held = HeldPublisher(b.services.chat.publisher)
    b.services.chat.publisher = held       # type: ignore[assignment]
    on_a = await connected(a.ports.tcp, near[1])
    on_b = await connected(b.ports.tcp, far[1])
    inbox = await connected(a.ports.tcp, receiver[1])
    try:
        await inbox.subscribe("/user/queue/chat", "chat")
        await _stored(on_b, "1", receiver[0], "late 1")     # stored first, published late
        await _stored(on_a, "2", receiver[0], "on time 2")  # stored after it, out first
        assert await _texts(inbox, 2) == [("1", "late 1"), ("2", "on time 2")]
        await held.release()                                # the late publish: dropped
        await inbox.no_frame(0.3)

        await inbox.close()
        await _stored(on_b, "3", receiver[0], "lost 3")     # never published
        await _stored(on_a, "4", receiver[0], "while away 4")
        inbox = await connected(a.ports.tcp, receiver[1])
        await inbox.send_frame("SUBSCRIBE", {"destination": "/user/queue/chat", "id": "chat",
                                             "x-since-seq": "2", "receipt": "back"})
        assert await _texts(inbox, 2) == [("3", "lost 3"), ("4", "while away 4")]
        await inbox.receipt("back")
        await _stored(on_b, "5", receiver[0], "lost 5")     # a live hole, then a live one
        await _stored(on_a, "6", receiver[0], "live 6")
        assert await _texts(inbox, 2) == [("5", "lost 5"), ("6", "live 6")]
        await inbox.no_frame(0.3)
    finally:
        for client in (on_a, on_b, inbox):
            await client.close()
