"""BEGIN / COMMIT / ABORT: SEND and ACK take effect at COMMIT only."""

from __future__ import annotations

from .conftest import Harness


async def test_commit_delivers_in_order(hub: Harness, transport: str) -> None:
    sub = await hub.connected(transport, "bob")
    await sub.subscribe("/topic/tx")
    client = await hub.connected(transport, "alice")
    await client.send_frame("BEGIN", {"transaction": "t1"})
    await client.send("/topic/tx", b"1", transaction="t1")
    held = await client.send("/topic/tx", b"2", transaction="t1", receipt="held")
    assert held is not None and held.get("receipt-id") == "held"
    await sub.no_frame()
    await client.send_frame("COMMIT", {"transaction": "t1", "receipt": "c"})
    assert (await client.frame()).get("receipt-id") == "c"
    assert [(await sub.frame()).body for _ in range(2)] == [b"1", b"2"]
    await sub.no_frame()


async def test_abort_drops(hub: Harness) -> None:
    sub = await hub.connected("tcp", "bob")
    await sub.subscribe("/topic/tx")
    client = await hub.connected("tcp", "alice")
    await client.send_frame("BEGIN", {"transaction": "t1"})
    await client.send("/topic/tx", b"1", transaction="t1")
    await client.send_frame("ABORT", {"transaction": "t1", "receipt": "a"})
    assert (await client.frame()).get("receipt-id") == "a"
    await client.send("/topic/tx", b"after")
    assert (await sub.frame()).body == b"after"


async def test_disconnect_drops(hub: Harness) -> None:
    sub = await hub.connected("tcp", "bob")
    await sub.subscribe("/topic/tx")
    client = await hub.connected("tcp", "alice")
    await client.send_frame("BEGIN", {"transaction": "t1"})
    await client.send("/topic/tx", b"1", transaction="t1")
    await client.send_frame("DISCONNECT", {"receipt": "d"})
    await client.closed()
    await sub.no_frame()


async def test_transactional_ack(hub: Harness) -> None:
    consumer = await hub.connected("tcp", "bob")
    await consumer.subscribe("/queue/txa", ack="client-individual")
    sender = await hub.connected("tcp", "alice")
    await sender.send("/queue/txa", b"m1")
    await sender.send("/queue/txa", b"m2")
    m1, m2 = await consumer.frame(), await consumer.frame()
    await consumer.send_frame("BEGIN", {"transaction": "t"})
    await consumer.send_frame("ACK", {"id": m1.get("ack") or "", "transaction": "t"})
    await consumer.send_frame("ABORT", {"transaction": "t"})
    await consumer.send_frame("BEGIN", {"transaction": "u"})
    await consumer.send_frame("ACK", {"id": m2.get("ack") or "", "transaction": "u"})
    await consumer.send_frame("COMMIT", {"transaction": "u", "receipt": "c"})
    assert (await consumer.frame()).get("receipt-id") == "c"
    await consumer.close()
    # m1's ACK was aborted -> back to the queue; m2 was committed -> gone
    other = await hub.connected("tcp", "carol")
    await other.subscribe("/queue/txa")
    assert (await other.frame()).body == b"m1"
    await other.no_frame()


async def test_unknown_transaction(hub: Harness, transport: str) -> None:
    client = await hub.connected(transport)
    await client.send_frame("SEND", {"destination": "/topic/x", "transaction": "nope",
                                     "receipt": "r"})
    frames = await client.closed()
    assert frames[-1].command.value == "ERROR" and frames[-1].get("receipt-id") == "r"


async def test_duplicate_begin(hub: Harness) -> None:
    client = await hub.connected()
    await client.send_frame("BEGIN", {"transaction": "t"})
    await client.send_frame("BEGIN", {"transaction": "t", "receipt": "dup"})
    frames = await client.closed()
    assert frames[-1].command.value == "ERROR" and frames[-1].get("receipt-id") == "dup"


async def test_commit_unknown(hub: Harness) -> None:
    client = await hub.connected()
    await client.send_frame("COMMIT", {"transaction": "never"})
    frames = await client.closed()
    assert frames[-1].command.value == "ERROR"
