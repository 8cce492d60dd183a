"""Ack modes, NACK and consumer-leaves redelivery."""

from __future__ import annotations

from .conftest import BrokerFactory, Harness


async def test_auto_mode_no_redelivery(hub: Harness) -> None:
    c1 = await hub.connected("tcp", "bob")
    await c1.subscribe("/queue/a", ack="auto")
    sender = await hub.connected("tcp", "alice")
    await sender.send("/queue/a", b"1")
    assert (await c1.frame()).get("ack") is None
    await c1.close()
    c2 = await hub.connected("tcp", "carol")
    await c2.subscribe("/queue/a")
    await c2.no_frame()


async def test_client_mode_cumulative(hub: Harness) -> None:
    consumer = await hub.connected("tcp", "bob")
    await consumer.subscribe("/queue/c", ack="client")
    sender = await hub.connected("tcp", "alice")
    for i in range(3):
        await sender.send("/queue/c", str(i).encode())
    msgs = [await consumer.frame() for _ in range(3)]
    assert all(m.get("ack") for m in msgs)
    await consumer.send_frame("ACK", {"id": msgs[1].get("ack") or ""})
    await consumer.send_frame("DISCONNECT", {"receipt": "d"})
    await consumer.closed()
    # message 0 and 1 acked cumulatively; only 2 comes back
    other = await hub.connected("tcp", "carol")
    await other.subscribe("/queue/c")
    msg = await other.frame()
    assert msg.body == b"2" and msg.get("redelivered") == "true"
    await other.no_frame()


async def test_client_individual(hub: Harness) -> None:
    consumer = await hub.connected("tcp", "bob")
    await consumer.subscribe("/queue/ci", ack="client-individual")
    sender = await hub.connected("tcp", "alice")
    for i in range(3):
        await sender.send("/queue/ci", str(i).encode())
    msgs = [await consumer.frame() for _ in range(3)]
    await consumer.send_frame("ACK", {"id": msgs[1].get("ack") or "", "receipt": "k"})
    assert (await consumer.frame()).get("receipt-id") == "k"
    # acking the same id twice is an unknown ack id
    await consumer.close()
    other = await hub.connected("tcp", "carol")
    await other.subscribe("/queue/ci")
    got = sorted([(await other.frame()).body for _ in range(2)])
    assert got == [b"0", b"2"]


async def test_ack_twice_is_error(hub: Harness) -> None:
    consumer = await hub.connected("tcp", "bob")
    await consumer.subscribe("/topic/t", ack="client-individual")
    await consumer.send("/topic/t", b"x")
    msg = await consumer.frame()
    await consumer.send_frame("ACK", {"id": msg.get("ack") or ""})
    await consumer.send_frame("ACK", {"id": msg.get("ack") or "", "receipt": "again"})
    frames = await consumer.closed()
    assert frames[-1].command.value == "ERROR" and frames[-1].get("receipt-id") == "again"


async def test_nack_redelivers_to_other_consumer(hub: Harness, transport: str) -> None:
    c1 = await hub.connected(transport, "bob")
    c2 = await hub.connected(transport, "carol")
    await c1.subscribe("/queue/n", ack="client-individual")
    sender = await hub.connected(transport, "alice")
    await sender.send("/queue/n", b"job")
    msg = await c1.frame()
    await c2.subscribe("/queue/n", ack="client-individual")
    await c1.send_frame("NACK", {"id": msg.get("ack") or ""})
    again = await c2.frame()
    assert again.body == b"job" and again.get("redelivered") == "true"
    await c1.no_frame()


async def test_nack_single_consumer_redelivers_to_it(hub: Harness) -> None:
    c1 = await hub.connected("tcp", "bob")
    await c1.subscribe("/queue/n1", ack="client")
    sender = await hub.connected("tcp", "alice")
    await sender.send("/queue/n1", b"job")
    msg = await c1.frame()
    await c1.send_frame("NACK", {"id": msg.get("ack") or ""})
    again = await c1.frame()
    assert again.body == b"job" and again.get("redelivered") == "true"


async def test_consumer_leaving_returns_unacked(hub: Harness, transport: str) -> None:
    c1 = await hub.connected(transport, "bob")
    c2 = await hub.connected(transport, "carol")
    await c1.subscribe("/queue/l", ack="client")
    sender = await hub.connected(transport, "alice")
    await sender.send("/queue/l", b"a")
    await sender.send("/queue/l", b"b")
    assert [(await c1.frame()).body for _ in range(2)] == [b"a", b"b"]
    await c2.subscribe("/queue/l", ack="auto")
    await c2.no_frame()
    await c1.send_frame("UNSUBSCRIBE", {"id": "0"})
    assert [(await c2.frame()).body for _ in range(2)] == [b"a", b"b"]


async def test_ack_by_message_id_v11_and_v10(hub: Harness) -> None:
    for version, login in (("1.1", "bob"), ("1.0", "carol")):
        consumer = await hub.connected("tcp", login, version=version)
        await consumer.subscribe(f"/queue/v{version}", ack="client")
        sender = await hub.connected("tcp", "alice")
        await sender.send(f"/queue/v{version}", b"m")
        msg = await consumer.frame()
        assert msg.get("ack") is None
        headers = {"message-id": msg.get("message-id") or "", "receipt": "ok"}
        if version == "1.1":
            headers["subscription"] = msg.get("subscription") or ""
        await consumer.send_frame("ACK", headers)
        assert (await consumer.frame()).get("receipt-id") == "ok"
        await consumer.send_frame("ACK", {"message-id": "bogus", "receipt": "bad"})
        frames = await consumer.closed()
        assert frames[-1].command.value == "ERROR"
        assert frames[-1].get("receipt-id") == "bad"


async def test_unacked_topic_bytes_are_bounded(make_broker: BrokerFactory) -> None:
    """A client-ack topic subscriber that never ACKs holds at most
    stomp.max_unacked_bytes: the MESSAGE past it is ERROR and close (counted); one that
    ACKs stays under it however much it receives."""
    hub = await make_broker(max_unacked_bytes=4000)
    acker = await hub.connected("tcp", "carol")
    await acker.subscribe("/topic/t", ack="client-individual")
    hoarder = await hub.connected("tcp", "bob")
    await hoarder.subscribe("/topic/t", ack="client")
    sender = await hub.connected("tcp", "alice")
    for i in range(4):   # 4 x ~1,100 bytes: the 4th passes 4,000
        await sender.send("/topic/t", str(i).encode() * 1000)
        got = await acker.frame()
        await acker.send_frame("ACK", {"id": got.get("ack") or ""})
    frames = await hoarder.closed()
    assert [f.command.value for f in frames] == ["MESSAGE"] * 3 + ["ERROR"], frames
    assert "too many unacknowledged bytes" in (frames[-1].get("message") or "")
    assert hub.broker.stats.slow_consumer_drops == {"unacked_bytes": 1}
    await sender.send_frame("SEND", {"destination": "/topic/t", "receipt": "r"}, b"after")
    await sender.receipt("r")
    assert (await acker.frame()).body == b"after"   # the acker is still there
