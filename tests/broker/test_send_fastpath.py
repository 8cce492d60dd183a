"""The SEND fast path (stompim/broker/send_fastpath.py) changes nothing but speed.

The property: two worlds, one with `stomp.send_fast_path` on and one with it off, fed
the same random streams (plain and not-so-plain SENDs, receipts, content-length,
binary bodies, escapes, CRLF heads, heart-beats, other frames, garbage), cut at the
same random points, with the same random flushes and throttle releases, write the
same bytes to every session and make the same events, and count the same.
Subscribers use STOMP 1.0, 1.1 and 1.2, auto and client acks, topics and a queue;
small pending limits make consumers congested (throttling the publisher mid-chunk) or
dropped.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stompim.broker import message as message_module
from stompim.broker import send_fastpath
from stompim.broker.events import BeginSend, PauseReading
from stompim.broker.message import Message, message_ids, plain_message
from stompim.broker.session import Session
from stompim.broker.states import Hold, State
from stompim.frames import V1_0, V1_1, V1_2, Command

from .sessionkit import ALICE, BOB, Peer, World, frame_bytes

NAMES = [b"content-type", b"x", b"receipt", b"content-length", b"transaction", b"message-id",
         b"ack", b"destination", b"", b"persistent", b"subscription", b"redelivered"]
VALUES = [b"text/plain", b"v", b"", b"r1", b"a:b", b"a\\cb", b"\xc3\xa9t\xc3\xa9", b"a\\\\b",
          b"\xff", b"/topic/t", b"x\\nb"]
DESTINATIONS = [b"/topic/t", b"/queue/q", b"/topic/u", b"/topic/chat/room", b"/topic/none",
                b"", b"/user/queue/chat", b"/topic/t:x", b"/topic/\xc3\xa9"]
BODIES = [b"", b"hi", b"x" * 60, b"a\x00b", b"\xc3\xa9", b"\xff\xfe", b"@" * 700]


@st.composite
def sends(draw: st.DrawFn) -> bytes:
    """A SEND on the wire, most of them plain, some anything but."""
    lines: list[bytes] = []
    if draw(st.integers(0, 9)):
        lines.append(b"destination:" + draw(st.sampled_from(DESTINATIONS)))
    for _ in range(draw(st.integers(0, 3))):
        lines.append(draw(st.sampled_from(NAMES)) + b":" + draw(st.sampled_from(VALUES)))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), b"receipt:r%d" % draw(st.integers(0, 9)))
    body = draw(st.sampled_from(BODIES))
    length = draw(st.sampled_from(["none", "right", "right", "wrong", "padded"]))
    if length == "right" or (length == "none" and b"\x00" in body):
        lines.append(b"content-length:%d" % len(body))
    elif length == "wrong":
        lines.append(b"content-length:%d" % (len(body) + 1))
    elif length == "padded":
        lines.append(b"content-length:0%d" % len(body))
    eol = b"\r\n" if draw(st.integers(0, 9)) == 0 else b"\n"
    return b"SEND" + eol + b"".join(line + eol for line in lines) + eol + body + b"\x00"


OTHERS = [
    b"\n", b"\n\n", b"\r\n",
    frame_bytes("SUBSCRIBE", {"destination": "/topic/u", "id": "self", "receipt": "sub"}),
    frame_bytes("UNSUBSCRIBE", {"id": "self"}),
    frame_bytes("BEGIN", {"transaction": "tx"}),
    frame_bytes("COMMIT", {"transaction": "tx", "receipt": "c"}),
    frame_bytes("DISCONNECT", {"receipt": "bye"}),
    b"BOGUS\n\n\x00",
    b"SEND\ndestination:/topic/t\n" + b"y" * 300 + b"\n\n\x00",   # a line past the limit
]

items = st.lists(st.one_of(sends(), sends(), sends(), st.sampled_from(OTHERS)),
                 min_size=1, max_size=14)

# After each chunk: flush the subscribers (and which), release a throttle.
actions = st.lists(st.tuples(st.integers(1, 200), st.booleans(), st.booleans()),
                   min_size=1, max_size=30)

SUBSCRIBERS = [   # version, destination, ack mode
    (V1_2, "/topic/t", "auto"),
    (V1_0, "/topic/t", "auto"),
    (V1_1, "/topic/t", "client-individual"),
    (V1_2, "/queue/q", "client"),
    (V1_2, "/topic/\u00e9", "auto"),
]


class Run:
    """One world, its publisher and subscribers, and everything they wrote."""

    def __init__(self, fast: bool, version: str, max_header_length: int) -> None:
        self.world = World(send_fast_path=fast, max_pending_bytes=6000,
                           max_header_length=max_header_length)
        self.publisher = self.world.peer()
        self.publisher.connect(ALICE, **{"accept-version": version})
        self.subscribers: list[Peer] = []
        for i, (sub_version, destination, ack) in enumerate(SUBSCRIBERS):
            peer = self.world.peer()
            peer.connect(BOB, **{"accept-version": sub_version})
            peer.send("SUBSCRIBE", {"destination": destination, "id": f"s{i}", "ack": ack})
            self.subscribers.append(peer)
        self.wire: dict[int, bytearray] = {}
        self.events: list[list[Any]] = [[] for _ in range(len(self.subscribers) + 1)]

    def peers(self) -> list[Peer]:
        return [self.publisher, *self.subscribers]

    def flush(self, index: int) -> None:
        peer = self.peers()[index]
        for event in peer.session.events():
            self.events[index].append(describe(event))
        data = b"".join(chunk for chunk, _ in peer.session.data_to_send())
        self.wire.setdefault(index, bytearray()).extend(data)

    def feed(self, chunk: bytes) -> None:
        self.publisher.session.receive_data(chunk, 0.0)
        self.flush(0)

    def outcome(self) -> dict[str, Any]:
        for index in range(len(self.peers())):
            self.flush(index)
        stats = self.world.ctx.stats
        publisher = self.publisher.session
        return {
            "wire": {i: bytes(w) for i, w in self.wire.items()},
            "events": self.events,
            "states": [p.session.state for p in self.peers()],
            "hold": publisher.hold,
            "backlog": None if publisher.backlog is None else list(publisher.backlog),
            "buffered": publisher.parser.buffered if publisher.state is State.CONNECTED else 0,
            "beats": publisher.parser.heartbeats if publisher.state is State.CONNECTED else 0,
            "stats": (stats.messages_in, stats.published, stats.messages_out, stats.bytes_in,
                      stats.bytes_out, stats.receipts_out, stats.errors_out,
                      dict(stats.frames_in), dict(stats.error_reasons),
                      dict(stats.slow_consumer_drops)),
            "queue": self.world.router.queue_depth("/queue/q"),
        }


def describe(event: Any) -> Any:
    if isinstance(event, BeginSend):
        return ("BeginSend", event.token, event.destination, event.headers, event.body)
    if isinstance(event, PauseReading):
        return ("PauseReading", event.throttle)
    return type(event).__name__


def same_ids() -> None:
    """Both worlds number their messages alike (the broker's ids come from one counter
    per process, read by the general path and the fast path)."""
    ids = itertools.count(10**6)
    message_module.message_ids = ids
    send_fastpath.message_ids = ids  # type: ignore[attr-defined]


def play(fast: bool, version: str, limit: int, wire: bytes,
         plan: list[tuple[int, bool, bool]]) -> dict[str, Any]:
    same_ids()
    run = Run(fast, version, limit)
    pos = 0
    step = 0
    while pos < len(wire):
        size, flush_all, release = plan[step % len(plan)]
        step += 1
        run.feed(wire[pos:pos + size])
        pos += size
        if flush_all:
            for index in range(1, len(run.peers())):
                run.flush(index)
        if release and run.publisher.session.hold is Hold.THROTTLE:
            run.publisher.session.resume_reading()
            run.flush(0)
    return run.outcome()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([V1_0, V1_1, V1_2]), items, actions, st.sampled_from([200, 8192]))
def test_the_fast_path_and_the_general_path_agree(
        version: str, frames: list[bytes], plan: list[tuple[int, bool, bool]], limit: int) -> None:
    wire = b"".join(frames)
    fast = play(True, version, limit, wire, plan)
    slow = play(False, version, limit, wire, plan)
    assert fast == slow


def test_plain_sends_take_the_fast_path() -> None:
    """The property above would hold with a fast path that never runs: plain SENDs
    (with receipts, content-length, heart-beats between them, split across chunks)
    really go through it, and the MESSAGE is what the general path writes."""
    runs = {}
    for fast in (True, False):
        same_ids()
        run = Run(fast, V1_2, 8192)
        frames = [
            b"SEND\ndestination:/topic/t\ncontent-type:text/plain\n\nhello\x00\n",
            b"SEND\nreceipt:r1\ndestination:/topic/t\ncontent-length:3\n\na\x00b\x00",
            b"SEND\ndestination:/topic/t\n\n\x00",
        ]
        wire = b"".join(frames) * 2
        run.feed(wire[:30])
        run.feed(wire[30:])
        runs[fast] = run.outcome()
    assert runs[True] == runs[False]
    assert runs[True]["beats"] == 2
    first = runs[True]["wire"][1].split(b"\x00")[0]
    assert first == (b"MESSAGE\nsubscription:s0\nmessage-id:nm1000000\ndestination:/topic/t\n"
                     b"content-type:text/plain\ncontent-length:5\n\nhello")
    assert runs[True]["wire"][0].count(b"RECEIPT\nreceipt-id:r1\n") == 2


def test_the_fast_path_builds_no_frame(monkeypatch: Any) -> None:
    """Plain SENDs never reach the command table (the general path's dispatch); the
    others still do."""
    run = Run(True, V1_2, 8192)
    dispatched: list[Command] = []
    real = Session.dispatch

    def spy(self: Session, frame: Any) -> None:
        dispatched.append(frame.command)
        real(self, frame)

    monkeypatch.setattr(Session, "dispatch", spy)
    run.feed(b"SEND\ndestination:/topic/t\nreceipt:a\n\nx\x00" * 5)
    assert dispatched == []
    run.feed(b"SEND\ndestination:/topic/t\ntransaction:t\n\nx\x00")   # not plain
    assert dispatched == [Command.SEND]
    assert run.outcome()["wire"][0].count(b"RECEIPT") == 5


@given(st.sampled_from(BODIES), st.lists(st.tuples(st.sampled_from([b"a", b"k", b"\xc3\xa9"]),
                                                   st.sampled_from([b"", b"1", b"text/plain"])),
                                         max_size=3), st.booleans())
def test_a_plain_message_has_the_tail_and_headers_of_a_message(
        body: bytes, pairs: list[tuple[bytes, bytes]], length: bool) -> None:
    """`plain_message` (bytes cut from a SEND) and `Message` (headers, encoded) agree."""
    lines = b"".join(b"\n" + name + b":" + value for name, value in pairs)
    if length:
        lines += b"\ncontent-length:%d" % len(body)
    lines += b"\n"
    mid = b"nm%d" % next(message_ids)
    rest = b"" if length or not body else b"content-length:%d\n" % len(body)
    tail = mid + b"\ndestination:/topic/t" + lines + rest + b"\n" + body + b"\x00"
    plain = plain_message("/topic/t", lines, body, mid, tail)
    headers = tuple((n.decode(), v.decode()) for n, v in pairs)
    if length:
        headers += (("content-length", str(len(body))),)
    reference = Message("/topic/t", (*headers, ("message-id", mid.decode())), body)
    assert plain.headers == reference.headers
    assert plain.message_id == reference.message_id
    assert plain.is_text == reference.is_text
    for version in (V1_0, V1_1, V1_2):
        assert plain.tail(version) == reference.tail(version)
        assert plain.template(version) == reference.template(version)


def test_the_bridge_gets_the_same_headers() -> None:
    """With a bridge (the exchange's `forward`), a plain SEND's topic message is
    forwarded with the headers the general path forwards, parsed from its bytes."""
    forwarded: dict[bool, list[tuple[str, Any, bytes]]] = {}
    for fast in (True, False):
        same_ids()
        run = Run(fast, V1_2, 8192)
        got = forwarded[fast] = []
        run.world.exchange.forward = lambda d, h, b, got=got: got.append((d, h, b))
        run.feed(b"SEND\ndestination:/topic/t\ncontent-type:text/plain\nx-a:\xc3\xa9\n"
                 b"receipt:1\n\nbody\x00SEND\ncontent-length:2\ndestination:/queue/q\n\nq!\x00"
                 b"SEND\nreceipt:2\ndestination:/topic/t\n\n\x00")
        assert run.outcome()["wire"][0].count(b"RECEIPT") == 2
    assert forwarded[True] == forwarded[False] == [
        ("/topic/t", (("content-type", "text/plain"), ("x-a", "\u00e9")), b"body"),
        ("/topic/t", (), b""),
    ]
