"""SIGKILL of a real node process while chat messages are stored, then a restart on
the same database: what was answered "stored" is there exactly once, and resending
every unanswered message with its clientMsgId leaves each message stored once, with
the conversation's seqs contiguous."""

from __future__ import annotations

import random
from collections.abc import Callable

import aiohttp
import pytest

from stompim.frames import Command

from ._nodeproc import NodeProcess
from ._people import answers, chat, connected, history, login, send_chat
from .conftest import rest_of

HELD = 250


async def test_sigkill_after_a_commit_receipt_loses_no_answered_message(
        processes: Callable[..., NodeProcess], http: aiohttp.ClientSession) -> None:
    node = processes()
    await node.start()
    rest = rest_of(http, node.http)
    alice, bob, carol = [await rest.user(n) for n in ("alice", "bob", "carol")]
    await rest.befriend(alice, bob)
    client = await connected(node.tcp, alice[1])
    await client.send_frame("BEGIN", {"transaction": "t"})
    for i in range(HELD):   # every tenth to a stranger: refused, the others go on
        to = carol[0] if i % 10 == 9 else bob[0]
        await send_chat(client, f"m{i:03d}", chat(to, f"held {i}", f"tx-{i}"), transaction="t")
    await client.no_frame(0.05)                   # nothing is answered before COMMIT
    await client.send_frame("COMMIT", {"transaction": "t", "receipt": "commit"})
    got = await answers(client, HELD + 1)
    await node.kill()                             # right after the COMMIT's RECEIPT
    await client.close()
    assert [f.get("receipt-id") for f in got] == [f"m{i:03d}" for i in range(HELD)] + ["commit"]
    stored = {f.get("message-id") for f in got[:HELD] if f.get("message-id")}
    refused = [f for f in got[:HELD] if f.get("x-error-code")]
    assert len(stored) == HELD - HELD // 10 and len(refused) == HELD // 10
    assert all(f.get("x-error-code") == "2003" for f in refused)
    await node.start()
    rest = rest_of(http, node.http)
    conversation = int(got[0].get("conversation-id") or 0)
    rows = await history(rest, await login(rest, "alice"), conversation)
    assert sorted(str(r["id"]) for r in rows) == sorted(stored)   # each exactly once
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))


TOTAL = 3000
WINDOW = 200


async def _send_all(node: NodeProcess, token: str, to: int, pending: list[int],
                    answered: dict[int, str], kill_after: int | None) -> None:
    """Pipeline the sends of `pending` (at most WINDOW unanswered at a time), noting
    each stored answer; SIGKILL the node once `kill_after` more answers came."""
    client = await connected(node.tcp, token)
    sent = 0
    seen = 0
    try:
        while seen < len(pending):
            while sent < len(pending) and sent - seen < WINDOW:
                n = pending[sent]
                await send_chat(client, f"c{n}", chat(to, f"message {n}", f"k-{n}"))
                sent += 1
            frame = await client.frame(30)
            if frame.command is not Command.RECEIPT:
                continue
            n = int((frame.get("receipt-id") or "c-1")[1:])
            assert frame.get("message-id"), frame     # to a friend: stored, or a duplicate
            answered[n] = frame.get("message-id") or ""
            seen += 1
            if kill_after is not None and seen >= kill_after:
                await node.kill()
                return
    finally:
        await client.close()


@pytest.mark.slow
async def test_sigkill_at_random_moments_then_resending_stores_each_message_once(
        processes: Callable[..., NodeProcess], http: aiohttp.ClientSession) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    node = processes()
    await node.start()
    rest = rest_of(http, node.http)
    alice, bob = [await rest.user(n) for n in ("alice", "bob")]
    await rest.befriend(alice, bob)
    answered: dict[int, str] = {}
    token = alice[1]
    # killed once while sending, once again while resending what was not answered
    kills = [rng.randrange(300, 2700) / TOTAL, rng.uniform(0.1, 0.9), None]
    for fraction in kills:
        pending = [n for n in range(TOTAL) if n not in answered]
        kill_after = None if fraction is None else max(1, int(fraction * len(pending)))
        await _send_all(node, token, bob[0], pending, answered, kill_after)
        if kill_after is not None:
            await node.start()
            token = await login(rest_of(http, node.http), "alice")
    assert len(answered) == TOTAL, seed
    rest = rest_of(http, node.http)
    conversation = (await rest.ok("GET", "/api/conversation/list", token=token))["list"]
    [conv] = [c["conversationId"] for c in conversation]
    rows = await history(rest, token, int(conv))
    assert sorted(r["clientMsgId"] for r in rows) == sorted(f"k-{n}" for n in range(TOTAL)), seed
    assert [r["seq"] for r in rows] == list(range(1, TOTAL + 1)), seed
    assert {str(r["id"]) for r in rows} == set(answered.values()), seed
