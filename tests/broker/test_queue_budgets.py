"""Generic queue budgets (issue 10, point 3): bytes per queue, bytes over all queues, the
number of queues and a message TTL.  A SEND that would pass one is ERROR and close
(QueueFull, as for `max_queue_depth`); nothing grows past a bound; a queue with no
message and no subscriber is forgotten; time is the router's injected clock.

Numbers: per queue 4 KiB, node-wide 10 KiB, 3 queues, TTL 60 s; message sizes are
`message_size` (body + headers + QUEUED_OVERHEAD).
"""

from __future__ import annotations

from stompclient import StompClient

from stompim.broker.destinations import Kind
from stompim.broker.message import Message
from stompim.broker.router import QUEUED_OVERHEAD, QueueFull, QueueLimits, Router, message_size
from stompim.frames import Command

from .conftest import BrokerFactory, wait_for
from .sessionkit import ALICE, BOB, World

KIB = 1024


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _msg(destination: str, size: int) -> Message:
    return Message(destination, (), b"b" * size)


def _router(**limits: float) -> tuple[Router, Clock]:
    clock = Clock()
    base = {"max_bytes": 4 * KIB, "max_total_bytes": 10 * KIB, "max_queues": 3, "ttl": 60.0}
    base.update(limits)
    return Router(QueueLimits(**base), clock=clock), clock   # type: ignore[arg-type]


def test_bytes_per_queue_and_node_wide_are_bounds() -> None:
    router, _ = _router()
    body = 1 * KIB - QUEUED_OVERHEAD           # each message costs exactly 1 KiB
    for _ in range(4):
        router.publish(Kind.QUEUE, _msg("/queue/a", body))
    assert router.queues["/queue/a"].bytes == 4 * KIB
    try:
        router.publish(Kind.QUEUE, _msg("/queue/a", body))
        raise AssertionError("a fifth KiB passed the queue's 4 KiB")
    except QueueFull as exc:
        assert "full" in exc.message
    for _ in range(4):
        router.publish(Kind.QUEUE, _msg("/queue/b", body))
    router.publish(Kind.QUEUE, _msg("/queue/c", body))
    router.publish(Kind.QUEUE, _msg("/queue/c", body))
    try:
        router.publish(Kind.QUEUE, _msg("/queue/c", body))
        raise AssertionError("the node's 10 KiB were passed")
    except QueueFull as exc:
        assert exc.message == "the node's queues are full, retry later"
    assert router.queued_bytes == 10 * KIB


def test_number_of_queues_is_capped_and_empty_queues_are_forgotten() -> None:
    router, _ = _router(max_total_bytes=1 << 20)
    for name in ("a", "b", "c"):
        router.publish(Kind.QUEUE, _msg(f"/queue/{name}", 10))
    try:
        router.publish(Kind.QUEUE, _msg("/queue/d", 10))
        raise AssertionError("a fourth queue was made")
    except QueueFull as exc:
        assert exc.message.startswith("too many queues (3)")
    assert sorted(router.queues) == ["/queue/a", "/queue/b", "/queue/c"]


def test_ttl_drops_waiting_messages_with_the_injected_clock() -> None:
    router, clock = _router(max_total_bytes=1 << 20, max_queues=1000)
    router.publish(Kind.QUEUE, _msg("/queue/old", 100))
    clock.now += 30
    router.publish(Kind.QUEUE, _msg("/queue/old", 100))
    router.publish(Kind.QUEUE, _msg("/queue/young", 100))
    router.expire(clock.now + 29.9)                  # nothing is 60 s old yet
    assert router.queue_depth("/queue/old") == 2 and router.expired == 0
    router.expire(clock.now + 30)                    # the first message is
    assert router.queue_depth("/queue/old") == 1 and router.expired == 1
    clock.now += 60
    router.expire(clock.now)                         # all the rest
    assert router.queues == {} and router.queued_bytes == 0 and router.expired == 3


def test_expiry_also_runs_on_publish() -> None:
    router, clock = _router(max_queues=1, max_total_bytes=1 << 20)
    router.publish(Kind.QUEUE, _msg("/queue/a", 100))
    clock.now += 61
    router.publish(Kind.QUEUE, _msg("/queue/b", 100))   # /queue/a expired first: room for b
    assert list(router.queues) == ["/queue/b"]


def test_unacked_deliveries_stay_counted_until_acked() -> None:
    """A client-ack consumer that never ACKs cannot make the queue grow: delivered and
    unacked messages count against the queue's bytes until ACKed (a NACK or the
    consumer leaving puts them back)."""
    world = World(max_queue_bytes=4 * KIB, max_queues_total_bytes=1 << 20)
    consumer = world.peer(BOB)
    consumer.send("SUBSCRIBE", {"id": "s", "destination": "/queue/w", "ack": "client-individual"})
    sender = world.peer(ALICE)
    body = 1 * KIB - QUEUED_OVERHEAD - len("content-length") - 3 - 2   # + its own header
    for _ in range(4):
        sender.send("SEND", {"destination": "/queue/w"}, b"m" * body)
    messages = consumer.take()
    assert [f.command for f in messages] == [Command.MESSAGE] * 4
    assert world.router.queues["/queue/w"].bytes == 4 * KIB
    sender.send("SEND", {"destination": "/queue/w"}, b"m" * body)
    assert sender.take()[-1].command is Command.ERROR          # QueueFull: ERROR, close
    consumer.send("ACK", {"id": str(messages[0].get("ack"))})
    assert world.router.queues["/queue/w"].bytes == 3 * KIB
    consumer.send("NACK", {"id": str(messages[1].get("ack"))})           # back in the queue
    assert world.router.queues["/queue/w"].bytes == 3 * KIB
    consumer.session.connection_lost()                          # the rest go back too
    assert world.router.queue_depth("/queue/w") == 3
    assert world.router.queued_bytes == 3 * KIB


def test_message_size_counts_headers() -> None:
    message = Message("/queue/x", (("k", "vv"),), b"12345")
    assert message_size(message) == 5 + QUEUED_OVERHEAD + len("k") + len("vv") + 2


async def test_250_junk_queues_are_refused_past_the_node_budget(
    make_broker: BrokerFactory,
) -> None:
    """The issue's flood at 1/16 scale: 250 SENDs of 64 KiB to 250 distinct queues
    (16 MB) against a 1 MiB node-wide budget.  Each refusal is ERROR and close; the
    sender reconnects and goes on; the router never holds more than 1 MiB, and once a
    consumer drained them no queue is left."""
    hub = await make_broker(max_queues_total_bytes=1 << 20, max_queue_bytes=256 * KIB)
    router = hub.broker.router
    body = b"j" * (64 * KIB)
    sender: StompClient = await hub.connected("tcp")
    refused = 0
    for n in range(250):
        await sender.send_frame("SEND", {"destination": f"/queue/junk-{n}", "receipt": f"r{n}"},
                                body)
        answer = await sender.frame()
        if answer.command is Command.ERROR:
            refused += 1
            assert answer.get("message") == "the node's queues are full, retry later"
            await sender.closed()
            sender = await hub.connected("tcp")
        assert router.queued_bytes <= 1 << 20
    held = len(router.queues)
    assert refused == 250 - held and held == (1 << 20) // message_size(
        Message("/queue/junk-0", (), body))
    consumer = await hub.connected("tcp", "bob")
    for n in range(held):
        await consumer.subscribe(f"/queue/junk-{n}", f"s{n}")
        assert (await consumer.frame()).command is Command.MESSAGE
        await consumer.send_frame("UNSUBSCRIBE", {"id": f"s{n}"})
    await wait_for(lambda: not router.queues)
    assert router.queued_bytes == 0
