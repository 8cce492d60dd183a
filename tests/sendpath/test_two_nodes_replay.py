"""Two nodes on one MariaDB (and Redis), 20 senders spread over both, one receiver on
node A that goes away and comes back with x-since-seq while messages keep coming:
every message reaches it exactly once, live or replayed.  Message ids are allocated
by MariaDB for both nodes, so their commits (and publishes) interleave out of id
order: the broker's replay de-duplication must drop only what the replay sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from stompclient import StompClient

from stompim.app import Node
from stompim.config import Config
from stompim.frames import Command

from ._nodeproc import JWT_SECRET
from ._people import answers, chat, connected, send_chat
from .conftest import rest_of

pytestmark = [
    pytest.mark.mysql, pytest.mark.redis,
    # MariaDB + Redis only: the deployment where two nodes share the store
    pytest.mark.parametrize("node_backend", ["mysql+redis"], indirect=True),
]

SENDERS = 20
PER_PHASE = 10


@pytest.fixture
async def nodes(node_backend: dict[str, dict[str, str]]) -> AsyncIterator[tuple[Node, Node]]:
    started: list[Node] = []
    try:
        for node_id in ("A", "B"):
            node = Node(Config().replace(
                server={"host": "127.0.0.1", "http_port": 0, "ws_port": 0, "tcp_port": 0,
                        "node_id": node_id},
                auth={"bcrypt_rounds": 4, "jwt_secret": JWT_SECRET},
            ).replace(**node_backend))
            await node.start()
            started.append(node)
        yield started[0], started[1]
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


async def _receive(client: StompClient, seen: list[str], want: set[str]) -> None:
    """MESSAGEs until every id of `want` was seen (each id noted as often as it came)."""
    async with asyncio.timeout(30):
        while not want <= set(seen):
            frame = await client.frame(30)
            assert frame.command is Command.MESSAGE, frame
            seen.append(frame.get("message-id") or "")


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
    try:
        await inbox.subscribe("/user/queue/chat", "chat")
        first = await _phase(senders, receiver[0], 1)                 # live
        await _receive(inbox, seen, first)
        last_seq = max(int(mid) for mid in seen)
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
        await _receive(inbox, seen, everything)
        await inbox.no_frame(0.3)
    finally:
        for client in [*senders, inbox]:
            await client.close()
    assert len(everything) == 3 * SENDERS * PER_PHASE
    assert sorted(seen) == sorted(everything)          # each exactly once
