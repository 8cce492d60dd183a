"""SIGTERM to a node while 100 connections have chat SENDs in flight: the node stops
reading frames, answers every SEND it had read (stored or refused), then ends each
session with ERROR "server shutting down" and exits 0.  After a restart, the messages
stored are exactly the ones answered "stored": none answered and lost, none stored
and left unanswered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
from stompclient import StompClient

from stompim.frames import Command, Frame

from ._nodeproc import NodeProcess
from ._people import chat, connected, history, login, send_chat
from .conftest import rest_of

USERS = 10
DEVICES = 10          # connections per user: 100 senders
SENDS = 30            # pipelined by each


async def _burst(client: StompClient, user: int, device: int, to: int, numbers: range) -> None:
    for n in numbers:
        await send_chat(client, f"r{n:02d}", chat(to, f"{user}.{device}.{n}",
                                                   f"u{user}-d{device}-{n}"))


async def _until_closed(client: StompClient, answered: asyncio.Event) -> list[Frame]:
    """Every answer and the ERROR, until the node closes (then this side closes too,
    as a client does); `answered` is set at the first RECEIPT."""
    got = []
    while (frame := await client.frame_or_eof(30)) is not None:
        if frame.command is Command.RECEIPT:
            answered.set()
        if frame.command is not Command.MESSAGE:
            got.append(frame)
    await client.close()
    return got


async def test_sigterm_answers_every_send_in_flight_before_closing(
        processes: Callable[..., NodeProcess], http: aiohttp.ClientSession) -> None:
    node = processes()
    await node.start()
    rest = rest_of(http, node.http)
    bob = await rest.user("bob")
    senders = [await rest.user(f"sender{u}") for u in range(USERS)]
    for sender in senders:
        await rest.befriend(sender, bob)
    clients = [[await connected(node.tcp, s[1]) for _ in range(DEVICES)] for s in senders]
    first = asyncio.Event()
    every = [(u, d, c) for u, row in enumerate(clients) for d, c in enumerate(row)]
    try:
        readers = [asyncio.ensure_future(_until_closed(c, first)) for _, _, c in every]
        await asyncio.gather(*[_burst(c, u, d, bob[0], range(10)) for u, d, c in every])
        await first.wait()            # the node is storing: SIGTERM it mid-flight...
        stopping = asyncio.ensure_future(node.terminate())
        # ...while the senders go on writing: what the node reads before it stops
        # reading is answered, the rest is neither read nor stored
        await asyncio.gather(*[_burst(c, u, d, bob[0], range(10, SENDS)) for u, d, c in every],
                             return_exceptions=True)
        code = await stopping
        frames = await asyncio.gather(*readers)
    finally:
        for row in clients:
            for c in row:
                await c.close()
    assert code == 0, "".join(node.log[-20:])
    answered: set[str] = set()
    for got in frames:
        *receipts, last = got
        assert last.command is Command.ERROR and last.get("message") == "server shutting down"
        assert [f.command for f in receipts] == [Command.RECEIPT] * len(receipts)
        ids = [f.get("receipt-id") for f in receipts]
        assert ids == [f"r{n:02d}" for n in range(len(ids))]       # in order, no gap
        answered.update(f.get("message-id") or "" for f in receipts)
    assert answered and "" not in answered       # every answer here is "stored"
    await node.start()
    rest = rest_of(http, node.http)
    token = await login(rest, "bob")
    conversations = (await rest.ok("GET", "/api/conversation/list?limit=100",
                                   token=token))["list"]
    stored = {str(m["id"]) for c in conversations
              for m in await history(rest, token, int(c["conversationId"]))}
    assert stored == answered
