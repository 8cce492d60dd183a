"""RedisBridge: the binary wire format, and two bridges talking through one KeyValue.

Codec tests are pure (round trip, any bytes in bodies, malformed payloads).  The
bridge tests run two bridges with different node ids over the `kv` fixture: one
shared MemoryKeyValue (in-process pub/sub) and, marked redis, two RedisKeyValue
clients on the real server sharing a prefix — what two nodes see.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stompim.cluster import RedisBridge
from stompim.cluster.wire import (
    BridgeDecodeError,
    CloseSessions,
    EndSubscriptions,
    RemoteMessage,
    decode_batch,
    decode_origin,
    decode_wanted,
    encode_batch,
    encode_record,
)
from stompim.store import KeyValue, open_kv

Headers = tuple[tuple[str, str], ...]
FLOOD_RECORD = len(encode_record(RemoteMessage("/topic/flood", (), b"0000")))


# ------------------------------------------------------------------------ codec


def test_round_trip_with_binary_body_and_all_kinds() -> None:
    body = bytes(range(256)) * 3 + b"\x00\x00end\n\n\x00"
    events = [
        RemoteMessage("/topic/chat/7", (("seq", "3"), ("x:colon", "v\nline"), ("ü", "é")), body),
        RemoteMessage("/topic/empty", (), b""),
        CloseSessions(42, "logged out", "jti-1"),
        CloseSessions(43, "disabled", None),
        EndSubscriptions(44, "/topic/chat/9", "removed from group"),
    ]
    data = encode_batch("node-A", events)
    assert body in data  # carried as is, not base64
    origin, decoded = decode_batch(data)
    assert origin == "node-A"
    assert decoded == events


@settings(max_examples=60, deadline=None)
@given(
    st.text(min_size=1, max_size=20),
    st.lists(
        st.tuples(
            st.text(max_size=30),
            st.lists(st.tuples(st.text(max_size=10), st.text(max_size=10)), max_size=5),
            st.binary(max_size=300),
        ),
        max_size=6,
    ),
)
def test_round_trip_property(
    origin: str, raw: list[tuple[str, list[tuple[str, str]], bytes]]
) -> None:
    events = [RemoteMessage(d, tuple(h), b) for d, h, b in raw]
    assert decode_batch(encode_batch(origin, events)) == (origin, events)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"garbage",
        b"SIB1\x00\x00",  # truncated origin length
        encode_batch("A", [RemoteMessage("/topic/x", (), b"12345")])[:-2],  # truncated body
        encode_batch("A", []) + b"\x09\x00\x00",  # unknown kind
        encode_batch("A", []) + b"\x02\x00\x01\x00\x00\x00\x01x",  # close with one part
        encode_batch("A", []) + b"\x02\x00\x02\x00\x00\x00\x01x\x00\x00\x00\x00",  # uid "x"
    ],
)
def test_malformed_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(BridgeDecodeError):
        decode_batch(payload)


def test_unwanted_messages_are_skipped_but_still_framed() -> None:
    events = [
        RemoteMessage("/queue/chat/1", (("seq", "1"),), b"for user 1"),
        CloseSessions(42, "logged out", None),
        RemoteMessage("/queue/chat/2", (("seq", "2"), ("x", "y")), b"for user 2"),
        EndSubscriptions(44, "/queue/chat/1", "removed"),
        RemoteMessage("/topic/t", (), b""),
    ]
    data = encode_batch("node-A", events)
    _origin, pos = decode_origin(data)
    assert decode_wanted(data, pos, None) == (events, 5)
    assert decode_wanted(data, pos, lambda d: d != "/queue/chat/2") == (
        [events[0], events[1], events[3], events[4]], 5)
    # controls are never skipped, whatever their destination
    assert decode_wanted(data, pos, lambda d: False) == ([events[1], events[3]], 5)
    # a skipped record is still walked: a truncated one refuses the whole batch
    with pytest.raises(BridgeDecodeError):
        decode_wanted(data[:-1], pos, lambda d: False)
    short = encode_batch("n", [RemoteMessage("/queue/chat/2", (("a", "b"),), b"xy")])[:-3]
    with pytest.raises(BridgeDecodeError):
        decode_wanted(short, decode_origin(short)[1], lambda d: False)


# ----------------------------------------------------------------------- bridges


@dataclass
class Sink:
    """A BridgeSink that records what the bridge hands to the local broker."""

    events: list[object] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    nobody_on: set[str] = field(default_factory=set)
    """Destinations no local session subscribes to (the bridge skips their messages)."""

    def wants_remote(self, destination: str) -> bool:
        return destination not in self.nobody_on

    def deliver_remote(self, destination: str, headers: Headers, body: bytes) -> None:
        self._add(RemoteMessage(destination, headers, body))

    def close_user_sessions_local(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        self._add(CloseSessions(user_id, reason, token_id))

    def end_subscriptions_local(self, user_id: int, destination: str, reason: str) -> None:
        self._add(EndSubscriptions(user_id, destination, reason))

    def _add(self, event: object) -> None:
        self.events.append(event)
        self.arrived.set()

    async def wait_for(self, n: int, timeout: float = 3.0) -> list[object]:
        async with asyncio.timeout(timeout):
            while len(self.events) < n:
                self.arrived.clear()
                await self.arrived.wait()
        return self.events


@dataclass
class Pair:
    a: RedisBridge
    b: RedisBridge
    sink_a: Sink
    sink_b: Sink


@pytest.fixture
async def pair(kv: KeyValue, request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    """Bridges A and B on one channel: for redis, B gets its own client (another node)."""
    kv_b = kv
    own: KeyValue | None = None
    if request.node.callspec.params["kv"] == "redis":
        redis_url = request.getfixturevalue("redis_url")
        own = kv_b = await open_kv(redis_url, prefix=request.getfixturevalue("kv_prefix"))
    a = RedisBridge(kv, "A", max_buffer_bytes=1000 * FLOOD_RECORD)
    b = RedisBridge(kv_b, "B")
    sink_a, sink_b = Sink(), Sink()
    for bridge, sink in ((a, sink_a), (b, sink_b)):
        await bridge.start()
        bridge.attach(sink)
    try:
        yield Pair(a, b, sink_a, sink_b)
    finally:
        await a.close()
        await b.close()
        if own is not None:
            await own.close()


async def test_messages_and_controls_reach_the_other_node_in_order(pair: Pair) -> None:
    body = b"\x00binary\xff" * 100
    pair.a.forward_message("/topic/news", (("k", "v"),), body)
    await pair.a.end_subscriptions(5, "/topic/chat/1", "kicked")
    pair.a.forward_message("/topic/chat/1", (), b"after the kick")
    await pair.a.close_user_sessions(5, "logged out", "jti")
    await pair.a.close_user_sessions(6, "disabled", None)
    events = await pair.sink_b.wait_for(5)
    assert events == [
        RemoteMessage("/topic/news", (("k", "v"),), body),
        EndSubscriptions(5, "/topic/chat/1", "kicked"),
        RemoteMessage("/topic/chat/1", (), b"after the kick"),
        CloseSessions(5, "logged out", "jti"),
        CloseSessions(6, "disabled", None),
    ]
    # the other direction works too, and nobody hears its own echo
    pair.b.forward_message("/topic/back", (), b"pong")
    assert (await pair.sink_a.wait_for(1)) == [RemoteMessage("/topic/back", (), b"pong")]
    await asyncio.sleep(0.1)
    assert len(pair.sink_b.events) == 5 and len(pair.sink_a.events) == 1


async def test_a_burst_is_batched_and_stays_in_order(pair: Pair) -> None:
    n = 500
    for i in range(n):
        pair.a.forward_message("/topic/burst", (("i", str(i)),), str(i).encode())
    events = await pair.sink_b.wait_for(n)
    assert [e.body for e in events] == [str(i).encode() for i in range(n)]  # type: ignore[attr-defined]
    assert pair.a.stats.records_out == n
    assert pair.a.stats.batches_out < n / 10  # many records per PUBLISH


async def test_buffer_is_bounded_in_bytes_and_close_flushes(pair: Pair) -> None:
    for i in range(1500):  # A holds 1000 such records; nothing is written before a yield
        pair.a.forward_message("/topic/flood", (), f"{i:04d}".encode())
    assert pair.a.stats.dropped == 500
    assert pair.a.stats.pending_bytes == 1000 * FLOOD_RECORD
    await pair.a.close()  # flushes the 1000 queued
    events = await pair.sink_b.wait_for(1000)
    assert len(events) == 1000
    pair.a.forward_message("/topic/late", (), b"x")  # ignored after close
    with pytest.raises(RuntimeError):
        await pair.a.close_user_sessions(1, "r", None)


async def test_messages_nobody_here_subscribes_to_are_skipped_in_order(pair: Pair) -> None:
    pair.sink_b.nobody_on.add("/queue/chat/9")
    pair.a.forward_message("/queue/chat/9", (("seq", "1"),), b"not here")
    pair.a.forward_message("/queue/chat/5", (("seq", "2"),), b"here")
    await pair.a.close_user_sessions(9, "logged out", None)
    pair.a.forward_message("/queue/chat/9", (), b"not here either")
    pair.a.forward_message("/topic/last", (), b"end")
    assert (await pair.sink_b.wait_for(3)) == [
        RemoteMessage("/queue/chat/5", (("seq", "2"),), b"here"),
        CloseSessions(9, "logged out", None),
        RemoteMessage("/topic/last", (), b"end"),
    ]
    assert pair.b.stats.records_in == 5
    assert pair.b.stats.records_skipped == 2


async def test_malformed_payload_is_counted_and_stream_goes_on(pair: Pair) -> None:
    await pair.a.kv.publish("cluster", b"not a batch")
    pair.a.forward_message("/topic/ok", (), b"fine")
    assert (await pair.sink_b.wait_for(1)) == [RemoteMessage("/topic/ok", (), b"fine")]
    assert pair.b.stats.decode_errors == 1


def test_node_id_is_required() -> None:
    with pytest.raises(ValueError):
        RedisBridge(None, "")  # type: ignore[arg-type]
