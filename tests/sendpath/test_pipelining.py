"""100 SENDs written back to back in one go, mixing messages that are stored, refused
at once (no database needed), refused in the batch (the rights check), and resent with
the clientMsgId of an earlier one: exactly 100 answers, in frame order, each right."""

from __future__ import annotations

import aiohttp

from stompim.app import Node
from stompim.frames import Command

from ._people import PRIVATE, answers, chat, connected
from .conftest import rest_of

TOTAL = 100


async def test_one_hundred_pipelined_sends_get_one_hundred_answers_in_order(
        node: Node, http: aiohttp.ClientSession) -> None:
    rest = rest_of(http, node.ports.http)
    alice, bob, carol = [await rest.user(n) for n in ("alice", "bob", "carol")]
    await rest.befriend(alice, bob)
    expected: list[tuple[str, object]] = []
    burst = b""
    first_of: dict[int, int] = {}
    for i in range(TOTAL):
        receipt = f"r{i:03d}"
        headers = f"SEND\ndestination:{PRIVATE}\nreceipt:{receipt}\ncontent-type:application/json\n"
        kind = i % 10
        if kind == 3:       # refused at once: too long (3003), or not JSON (9001)
            body = chat(bob[0], "x" * 6000) if i % 20 == 3 else b"{not json"
            expected.append(("refused", "3003" if i % 20 == 3 else "9001"))
        elif kind == 5:     # refused in the batch: carol is no friend (2003)
            body = chat(carol[0], f"to a stranger {i}", f"s-{i}")
            expected.append(("refused", "2003"))
        elif kind == 7:     # a resend of message i-7 (stored): the same message
            body = chat(bob[0], f"message {i - 7}", f"c-{i - 7}")
            expected.append(("duplicate", i - 7))
        else:
            body = chat(bob[0], f"message {i}", f"c-{i}")
            expected.append(("stored", i))
        burst += headers.encode() + f"content-length:{len(body)}\n\n".encode() + body + b"\x00"
    client = await connected(node.ports.tcp, alice[1])
    try:
        await client.send_raw(burst)
        got = await answers(client, TOTAL)
    finally:
        await client.close()
    assert [f.command for f in got] == [Command.RECEIPT] * TOTAL
    assert [f.get("receipt-id") for f in got] == [f"r{i:03d}" for i in range(TOTAL)]
    seqs = []
    for i, (frame, (kind, detail)) in enumerate(zip(got, expected, strict=True)):
        if kind == "refused":
            assert frame.get("x-error-code") == detail and frame.get("message-id") is None, (
                i, frame)
        elif kind == "duplicate":
            assert isinstance(detail, int)
            assert frame.get("message-id") == first_of[detail], (i, frame)
            assert frame.get("x-duplicate") == "true"
        else:
            assert frame.get("x-error-code") is None and frame.get("message-id"), (i, frame)
            first_of[i] = frame.get("message-id") or ""
            seqs.append(int(frame.get("seq") or 0))
    assert seqs == list(range(1, len(seqs) + 1))   # stored in frame order, no gap
