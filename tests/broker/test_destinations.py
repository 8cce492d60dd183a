"""Topic fan-out, queues, per-user destinations, receipts, DISCONNECT."""

from __future__ import annotations

import pytest

from stompim.broker import Principal
from stompim.broker.destinations import DestinationRefused, DestinationRules, Kind

from .conftest import BrokerFactory, Harness, wait_for

ALICE = Principal(1, "alice")


def test_rules_resolution() -> None:
    rules = DestinationRules(open_generic=True)
    assert rules.for_subscribe("/user/queue/chat", ALICE).destination == "/queue/chat/1"
    assert rules.for_subscribe("/queue/chat/1", ALICE).kind is Kind.TOPIC
    assert rules.for_subscribe("/queue/jobs", ALICE).kind is Kind.QUEUE
    assert rules.for_subscribe("/topic/x", ALICE).kind is Kind.TOPIC
    for bad in ("/queue/chat/2", "/queue/notification/2", "/exchange/x", "/topic/", "/app/x"):
        with pytest.raises(DestinationRefused):
            rules.for_subscribe(bad, ALICE)
    with pytest.raises(DestinationRefused):
        rules.for_send("/queue/notification/1", ALICE)
    closed = DestinationRules(open_generic=False)
    with pytest.raises(DestinationRefused):
        closed.for_subscribe("/topic/x", ALICE)
    assert closed.for_subscribe("/user/queue/notification", ALICE).destination == (
        "/queue/notification/1")


class _AppHandler:
    """Owns /app/** (as the chat binding does): enough to see where a SEND routes."""

    def handles(self, destination: str) -> bool:
        return destination.startswith("/app/")

    async def authorize_subscribe(self, principal: Principal, destination: str) -> None:
        raise AssertionError("not subscribed")

    async def replay(self, principal: Principal, destination: str,
                     since: int) -> list[tuple[dict[str, str], bytes]]:
        return []

    def begin_send(self, principal: Principal, destination: str, headers: object,
                   body: bytes) -> object:
        raise AssertionError("not sent")


def test_spring_prefixes_are_read_as_app_and_user() -> None:
    rules = DestinationRules(True, app_prefixes=("/api", "/im/"), user_prefix="/me")
    handler = _AppHandler()
    rules.add_handler(handler)  # type: ignore[arg-type]
    for raw in ("/api/chat/private", "/im/chat/private", "/app/chat/private"):
        route = rules.for_send(raw, ALICE)
        assert (route.destination, route.handler) == ("/app/chat/private", handler), raw
    assert rules.for_subscribe("/me/queue/chat", ALICE).destination == "/queue/chat/1"
    assert rules.for_subscribe("/user/queue/chat", ALICE).destination == "/queue/chat/1"
    assert rules.for_subscribe("/me/queue/inbox", ALICE).destination == "/user/1/queue/inbox"
    # only whole path segments: /apix is not under /api
    with pytest.raises(DestinationRefused):
        rules.for_send("/apix/chat/private", ALICE)
    # the default rules rewrite nothing
    default = DestinationRules(True)
    assert default.canonical("/api/chat/private") == "/api/chat/private"
    assert default.canonical("/me/queue/chat") == "/me/queue/chat"


async def test_topic_fan_out(hub: Harness, transport: str) -> None:
    subs = [await hub.connected(transport, name) for name in ("alice", "bob", "carol")]
    for i, sub in enumerate(subs):
        await sub.subscribe("/topic/news", sub_id=f"s{i}")
    sender = await hub.connected(transport, "bob")
    await sender.send("/topic/news", b"{}", content_type="application/json", x_custom="1")
    for i, sub in enumerate(subs):
        msg = await sub.frame()
        assert msg.command.value == "MESSAGE"
        assert msg.get("subscription") == f"s{i}"
        assert msg.get("destination") == "/topic/news"
        assert msg.get("message-id")
        assert msg.get("content-type") == "application/json"
        assert msg.get("content-length") == "2"
        assert msg.get("x-custom") == "1"
        assert msg.get("ack") is None   # auto mode
        assert msg.body == b"{}"


async def test_binary_body_with_nul(hub: Harness) -> None:
    sub = await hub.connected("tcp", "bob")
    await sub.subscribe("/topic/bin")
    sender = await hub.connected("tcp", "alice")
    body = b"\x00\x01\xff\x00end"
    await sender.send("/topic/bin", body, content_length=str(len(body)))
    assert (await sub.frame()).body == body


async def test_queue_holds_until_consumed(hub: Harness) -> None:
    sender = await hub.connected("tcp", "alice")
    for i in range(3):
        await sender.send("/queue/jobs", f"j{i}".encode())
    receipt = await sender.send("/queue/jobs", b"j3", receipt="r")
    assert receipt is not None and receipt.command.value == "RECEIPT"
    assert hub.broker.router.queue_depth("/queue/jobs") == 4
    consumer = await hub.connected("ws", "bob")
    await consumer.subscribe("/queue/jobs")
    got = [(await consumer.frame()).body for _ in range(4)]
    assert got == [b"j0", b"j1", b"j2", b"j3"]
    assert hub.broker.router.queue_depth("/queue/jobs") == 0


async def test_queue_round_robin_one_consumer_each(hub: Harness) -> None:
    c1 = await hub.connected("tcp", "bob")
    c2 = await hub.connected("tcp", "carol")
    await c1.subscribe("/queue/work")
    await c2.subscribe("/queue/work")
    sender = await hub.connected("tcp", "alice")
    for i in range(6):
        await sender.send("/queue/work", str(i).encode())
    got1 = [(await c1.frame()).body for _ in range(3)]
    got2 = [(await c2.frame()).body for _ in range(3)]
    assert got1 == [b"0", b"2", b"4"]
    assert got2 == [b"1", b"3", b"5"]
    await c1.no_frame()
    await c2.no_frame()


async def test_queue_depth_bound(make_broker: BrokerFactory) -> None:
    hub = await make_broker(max_queue_depth=2)
    sender = await hub.connected()
    await sender.send("/queue/q", b"1")
    await sender.send("/queue/q", b"2")
    await sender.send_frame("SEND", {"destination": "/queue/q", "receipt": "r3"}, b"3")
    frames = await sender.closed()
    assert frames[-1].command.value == "ERROR" and frames[-1].get("receipt-id") == "r3"
    assert hub.broker.router.queue_depth("/queue/q") == 2


async def test_generic_closed(make_broker: BrokerFactory) -> None:
    hub = await make_broker(open_generic_destinations=False)
    client = await hub.connected()
    await client.send_frame("SUBSCRIBE", {"destination": "/topic/x", "id": "1"})
    frames = await client.closed()
    assert frames[-1].command.value == "ERROR"
    other = await hub.connected("tcp", "bob")
    await other.subscribe("/user/queue/notification")  # per-user still open


async def test_user_queue_resolution_and_all_devices(hub: Harness) -> None:
    phone = await hub.connected("tcp", "bob")
    laptop = await hub.connected("ws", "bob")
    await phone.subscribe("/user/queue/notification", sub_id="n")
    await laptop.subscribe("/queue/notification/2", sub_id="m")
    stranger = await hub.connected("tcp", "carol")
    await stranger.subscribe("/user/queue/notification", sub_id="n")
    await hub.broker.publisher.publish("/queue/notification/2", b"ping", {"type": "x"})
    for client, sub_id in ((phone, "n"), (laptop, "m")):
        msg = await client.frame()
        assert msg.body == b"ping" and msg.get("subscription") == sub_id
        assert msg.get("destination") == "/queue/notification/2"
    await stranger.no_frame()


async def test_per_user_subscribe_acl(hub: Harness, transport: str) -> None:
    mallory = await hub.connected(transport, "carol")
    await mallory.send_frame("SUBSCRIBE", {"destination": "/queue/chat/1", "id": "x",
                                           "receipt": "acl"})
    frames = await mallory.closed()
    assert frames[-1].command.value == "ERROR"
    assert frames[-1].get("receipt-id") == "acl"
    assert "forbidden" in (frames[-1].get("message") or "")


async def test_nobody_sends_to_notification(hub: Harness) -> None:
    owner = await hub.connected("tcp", "alice")
    await owner.send_frame("SEND", {"destination": "/queue/notification/1"}, b"x")
    frames = await owner.closed()
    assert frames[-1].command.value == "ERROR"


async def test_receipts_and_disconnect(hub: Harness, transport: str) -> None:
    client = await hub.connected(transport)
    await client.subscribe("/topic/r", receipt="sub-1")
    await client.send_frame("UNSUBSCRIBE", {"id": "0", "receipt": "unsub-1"})
    assert (await client.frame()).get("receipt-id") == "unsub-1"
    await client.send_frame("BEGIN", {"transaction": "t", "receipt": "b"})
    assert (await client.frame()).get("receipt-id") == "b"
    await client.send_frame("ABORT", {"transaction": "t", "receipt": "a"})
    assert (await client.frame()).get("receipt-id") == "a"
    await client.send_frame("DISCONNECT", {"receipt": "bye"})
    frames = await client.closed()
    assert [(f.command.value, f.get("receipt-id")) for f in frames] == [("RECEIPT", "bye")]
    await wait_for(lambda: hub.broker.sessions_count == 0)


async def test_unsubscribe_stops_delivery(hub: Harness) -> None:
    client = await hub.connected()
    await client.subscribe("/topic/u", sub_id="s")
    await client.send_frame("UNSUBSCRIBE", {"id": "s"})
    await client.send("/topic/u", b"x", receipt="r")
    await client.no_frame()


async def test_version_10_default_subscription_id(hub: Harness) -> None:
    client = await hub.connected("tcp", "alice", version="1.0")
    await client.send_frame("SUBSCRIBE", {"destination": "/topic/old", "receipt": "s"})
    assert (await client.frame()).command.value == "RECEIPT"
    await client.send("/topic/old", b"x")
    msg = await client.frame()
    assert msg.get("subscription") == "/topic/old"
