"""The sans-I/O Session, without sockets or an event loop: bytes in (often one at a
time), frames and events out, the test answering the events as the broker would."""

from __future__ import annotations

import pytest

from stompim.broker.context import MAX_SENDS_IN_FLIGHT, REPLAY_DEDUPE_SECONDS
from stompim.broker.errors import AuthenticationFailed
from stompim.broker.events import (
    Authenticate,
    AuthorizeSubscribe,
    BeginSend,
    Close,
    PauseReading,
    ResumeReading,
)
from stompim.broker.states import Hold, State
from stompim.errors import Refusal, Unavailable
from stompim.frames import Command

from .sessionkit import ALICE, BOB, World, frame_bytes, pauses

CHAT = "/topic/chat/7"


def receipts(frames: list) -> list[tuple[str | None, str | None]]:
    """(receipt-id, message-id or x-error-code) of the RECEIPTs among `frames`."""
    return [(f.get("receipt-id"), f.get("message-id") or f.get("x-error-code"))
            for f in frames if f.command is Command.RECEIPT]


def test_connect_byte_at_a_time_asks_once_then_answers_connected() -> None:
    world = World()
    peer = world.peer()
    data = frame_bytes("CONNECT", {"accept-version": "1.1,1.2", "login": "alice",
                                   "heart-beat": "0,0"})
    peer.feed(data[:-1], step=1)
    assert peer.take_events() == [] and peer.take() == []
    peer.feed(data[-1:])
    pause, auth = peer.take_events()
    assert isinstance(pause, PauseReading) and not pause.throttle
    assert isinstance(auth, Authenticate) and auth.headers["login"] == "alice"
    assert peer.session.state is State.AUTHENTICATING
    assert peer.session.authenticated(ALICE)
    [connected] = peer.take()
    assert connected.command is Command.CONNECTED and connected.get("version") == "1.2"
    assert connected.get("user-name") == "alice" and connected.get("session") == "s1"


def test_frames_after_connect_wait_for_authentication() -> None:
    world = World()
    peer = world.peer()
    peer.feed(frame_bytes("CONNECT", {"accept-version": "1.2", "login": "alice"})
              + frame_bytes("SUBSCRIBE", {"destination": "/topic/a", "id": "1", "receipt": "s"}),
              step=3)
    assert pauses(peer.events) == ["pause"]      # the transport stops while authenticating
    assert peer.take() == [] and peer.session.backlog
    assert peer.session.authenticated(ALICE)
    frames = peer.take()
    assert [f.command for f in frames] == [Command.CONNECTED, Command.RECEIPT]
    assert "/topic/a" in world.router.topics


def test_refused_credentials_error_with_the_connect_receipt() -> None:
    peer = World().peer()
    peer.send("CONNECT", {"accept-version": "1.2", "receipt": "c"})
    peer.session.connect_refused(AuthenticationFailed("bad login or passcode").message)
    [error] = peer.take()
    assert error.command is Command.ERROR and error.get("receipt-id") == "c"
    assert error.get("message") == "bad login or passcode"
    assert isinstance(peer.closed, Close) and peer.session.state is State.CLOSING
    assert not peer.session.authenticated(ALICE)   # too late: nothing happens


def test_generic_send_byte_at_a_time_reaches_a_subscriber_then_receipt() -> None:
    world = World()
    reader, writer = world.peer(BOB), world.peer(ALICE)
    reader.send("SUBSCRIBE", {"destination": "/topic/t", "id": "x"}, step=1)
    reader.take()
    woken = reader.woken
    writer.send("SEND", {"destination": "/topic/t", "receipt": "r1"}, b"hello", step=1)
    [receipt] = writer.take()
    assert receipt.command is Command.RECEIPT and receipt.get("receipt-id") == "r1"
    [message] = reader.take()
    assert message.body == b"hello" and message.get("subscription") == "x"
    assert reader.woken == woken + 1    # one wake: flushed once, in the broker's pass


def test_pipelined_handled_sends_are_answered_in_frame_order() -> None:
    peer = World().peer(ALICE)
    for n in range(4):
        peer.send("SEND", {"destination": CHAT, "receipt": f"r{n}"}, b"m")
    sends = peer.sends()
    assert [s.token for s in sends] == [1, 2, 3, 4] and all(s.destination == CHAT for s in sends)
    peer.stored(sends[2], 30)
    peer.settle(sends[1], Refusal(4002, "not a member"))
    assert peer.take() == []                      # the first one is still being stored
    peer.stored(sends[0], 10)
    assert receipts(peer.take()) == [("r0", "10"), ("r1", "4002"), ("r2", "30")]
    peer.settle(sends[3], Unavailable("database"))
    [refusal] = peer.take()
    assert refusal.get("x-error-code") == "3001" and refusal.get("message-id") is None
    assert refusal.get("x-error-message") == "database unavailable, retry"


def test_an_answer_due_at_once_queues_behind_one_still_owed() -> None:
    peer = World().peer(ALICE)
    peer.send("SUBSCRIBE", {"destination": "/user/queue/errors", "id": "e"})
    peer.send("SEND", {"destination": CHAT, "receipt": "a"}, b"1")
    [first] = peer.sends()
    peer.send("SEND", {"destination": "/topic/t", "receipt": "b"}, b"2")   # generic
    peer.send("SUBSCRIBE", {"destination": "/topic/u", "id": "u", "receipt": "c"})
    peer.send("SEND", {"destination": CHAT, "receipt": "d"}, b"3")
    [second] = peer.sends()
    peer.settle(second, Refusal(2003, "not friends"))
    assert peer.take() == []
    peer.stored(first, 5)
    frames = peer.take()
    assert receipts(frames) == [("a", "5"), ("b", None), ("c", None), ("d", "2003")]
    notice = next(f for f in frames if f.command is Command.MESSAGE)
    assert notice.get("code") == "2003" and notice.get("receipt-id") == "d"
    assert frames.index(notice) == len(frames) - 2    # told on /user/queue/errors, then RECEIPT


def test_too_many_sends_in_flight_pause_reading_until_one_settles() -> None:
    peer = World().peer(ALICE)
    frame = frame_bytes("SEND", {"destination": CHAT}, b"x")
    peer.feed(frame * (MAX_SENDS_IN_FLIGHT + 3))
    sends = [e for e in peer.events if isinstance(e, BeginSend)]
    assert len(sends) == MAX_SENDS_IN_FLIGHT
    assert peer.session.hold is Hold.SENDS and len(peer.session.backlog or ()) == 3
    assert isinstance(peer.events[-1], PauseReading) and not peer.events[-1].throttle
    peer.events.clear()
    peer.stored(sends[0], 1)
    after = peer.take_events()
    assert isinstance(after[0], ResumeReading) and isinstance(after[1], BeginSend)
    assert peer.session.hold is Hold.SENDS            # full again after one more
    assert len(peer.session.backlog or ()) == 2


def test_disconnect_waits_for_the_answers_owed_then_receipts_and_closes() -> None:
    peer = World().peer(ALICE)
    peer.send("SEND", {"destination": CHAT, "receipt": "m"}, b"x")
    [send] = peer.sends()
    peer.send("DISCONNECT", {"receipt": "bye"})
    assert peer.session.state is State.DRAINING and peer.take() == []
    peer.send("SEND", {"destination": "/topic/t", "receipt": "ignored"})
    peer.stored(send, 9)
    assert receipts(peer.take()) == [("m", "9"), ("bye", None)]
    assert peer.session.state is State.CLOSING and isinstance(peer.closed, Close)
    assert not peer.closed.abort


def test_a_drain_that_takes_too_long_ends_with_error() -> None:
    peer = World(send_drain_ms=1000).peer(ALICE)
    peer.send("SEND", {"destination": CHAT, "receipt": "m"}, b"x")
    peer.send("DISCONNECT", {"receipt": "bye"})
    peer.session.tick(10.0, 0.1)          # the deadline starts with the first tick
    peer.session.tick(10.9, 0.1)
    assert peer.session.state is State.DRAINING
    peer.session.tick(11.1, 0.1)
    [error] = peer.take()
    assert error.command is Command.ERROR and peer.session.state is State.CLOSING


def test_shutdown_answers_sends_in_flight_then_errors() -> None:
    peer = World().peer(ALICE)
    peer.send("SEND", {"destination": CHAT, "receipt": "m"}, b"x")
    [send] = peer.sends()
    peer.session.shutdown()
    peer.send("SEND", {"destination": CHAT, "receipt": "late"}, b"y")   # not read any more
    assert peer.sends() == [] and peer.take() == []
    peer.stored(send, 4)
    frames = peer.take()
    assert receipts(frames) == [("m", "4")]
    assert frames[-1].command is Command.ERROR
    assert frames[-1].get("message") == "server shutting down"


def test_shutdown_before_connected_errors_at_once() -> None:
    peer = World().peer()
    peer.session.shutdown()
    [error] = peer.take()
    assert error.get("message") == "server shutting down"


def test_held_chat_sends_are_answered_after_commit_and_before_its_receipt() -> None:
    peer = World().peer(ALICE)
    peer.send("BEGIN", {"transaction": "t"})
    peer.send("SEND", {"destination": CHAT, "transaction": "t", "receipt": "a"}, b"1")
    peer.send("SEND", {"destination": "/topic/t", "transaction": "t", "receipt": "g"}, b"2")
    peer.send("SEND", {"destination": CHAT, "transaction": "t", "receipt": "b"}, b"3")
    assert receipts(peer.take()) == [("g", None)]        # a generic SEND is held: receipt
    assert peer.sends() == []                             # nothing stored before COMMIT
    peer.send("COMMIT", {"transaction": "t", "receipt": "c"})
    first, second = peer.sends()
    assert peer.take() == []
    peer.settle(first, Refusal(2003, "not friends"))      # one refused, the other stored
    peer.stored(second, 8)
    assert receipts(peer.take()) == [("a", "2003"), ("b", "8"), ("c", None)]


def test_abort_answers_held_chat_sends_as_not_stored() -> None:
    peer = World().peer(ALICE)
    peer.send("SUBSCRIBE", {"destination": "/user/queue/errors", "id": "e"})
    peer.send("BEGIN", {"transaction": "t"})
    peer.send("SEND", {"destination": CHAT, "transaction": "t", "receipt": "a"}, b"1")
    peer.send("ABORT", {"transaction": "t", "receipt": "x"})
    frames = peer.take()
    assert receipts(frames) == [("a", "3001"), ("x", None)]
    assert "aborted" in (frames[0].get("x-error-message") or "")
    assert peer.sends() == [] and not any(f.command is Command.MESSAGE for f in frames)


def test_disconnect_aborts_open_transactions_with_answers() -> None:
    peer = World().peer(ALICE)
    peer.send("BEGIN", {"transaction": "t"})
    peer.send("SEND", {"destination": CHAT, "transaction": "t", "receipt": "a"}, b"1")
    peer.send("DISCONNECT", {"receipt": "bye"})
    assert receipts(peer.take()) == [("a", "3001"), ("bye", None)]


@pytest.mark.parametrize(
    ("limits", "frames", "message"),
    [
        ({"max_transactions": 2}, [("BEGIN", "t1"), ("BEGIN", "t2"), ("BEGIN", "t3")],
         "too many open transactions"),
        ({"max_transaction_frames": 2}, [("BEGIN", "t"), ("SEND", "t"), ("SEND", "t"),
                                         ("SEND", "t")], "holds too many frames"),
        ({"max_transaction_bytes": 500}, [("BEGIN", "t"), ("SEND", "t"), ("SEND", "t")],
         "too many bytes"),
    ],
)
def test_transaction_limits_are_errors(limits: dict[str, int], frames: list[tuple[str, str]],
                                       message: str) -> None:
    peer = World(**limits).peer(ALICE)
    for command, transaction in frames:
        headers = {"transaction": transaction, "receipt": f"{command}-{transaction}"}
        if command == "SEND":
            headers["destination"] = "/topic/t"
        peer.send(command, headers, b"x" * 200 if command == "SEND" else b"")
    error = peer.take()[-1]
    assert error.command is Command.ERROR and message in (error.get("message") or "")


def test_handled_subscribe_holds_frames_and_replays_without_duplicates() -> None:
    world = World()
    peer = world.peer(BOB)
    peer.send("SUBSCRIBE", {"destination": CHAT, "id": "c", "receipt": "s", "x-since-seq": "2"})
    peer.send("SEND", {"destination": "/topic/t", "receipt": "after"})
    [ask] = peer.take_events(AuthorizeSubscribe)
    assert ask.since == 2 and peer.session.hold is Hold.SUBSCRIBE and peer.take() == []
    peer.session.subscribe_authorized(ask.token)
    publish = world.exchange.publish
    kind = world.rules.kind_of(CHAT)
    publish(kind, CHAT, (("message-id", "5"),), b"live-5", forward=False)   # also replayed
    publish(kind, CHAT, (("message-id", "3"),), b"live-3", forward=False)   # committed late
    peer.session.replayed(ask.token, [({"message-id": "4"}, b"r4"), ({"message-id": "5"}, b"r5")])
    frames = peer.take()
    assert [f.body for f in frames if f.command is Command.MESSAGE] == [b"r4", b"r5", b"live-3"]
    assert receipts(frames) == [("s", None), ("after", None)]
    publish(kind, CHAT, (("message-id", "5"),), b"again-5", forward=False)
    publish(kind, CHAT, (("message-id", "6"),), b"live-6", forward=False)
    assert [f.body for f in peer.take()] == [b"live-6"]
    # the replayed ids are forgotten after a bounded time
    peer.session.tick(100.0, 1.0)
    peer.session.tick(100.0 + REPLAY_DEDUPE_SECONDS, 1.0)
    assert peer.session.replays is None
    publish(kind, CHAT, (("message-id", "5"),), b"late-5", forward=False)
    assert [f.body for f in peer.take()] == [b"late-5"]


def test_refused_subscribe_is_an_error_with_its_receipt() -> None:
    peer = World().peer(BOB)
    peer.send("SUBSCRIBE", {"destination": CHAT, "id": "c", "receipt": "s"})
    [ask] = peer.take_events(AuthorizeSubscribe)
    peer.session.subscribe_refused(ask.token, "forbidden: not a member")
    [error] = peer.take()
    assert error.command is Command.ERROR and error.get("receipt-id") == "s"


def test_publishing_into_a_congested_consumer_throttles_only_that_publisher() -> None:
    world = World(max_pending_bytes=64 * 1024)         # soft limit: 16 KiB
    slow = world.peer(BOB)
    slow.send("SUBSCRIBE", {"destination": "/topic/slow", "id": "s"})
    slow.take()
    slow.session.transport_buffered(20 * 1024)         # its transport does not drain
    writer, bystander = world.peer(ALICE), world.peer(ALICE)
    writer.take_events()
    writer.send("SEND", {"destination": "/topic/slow"}, b"x")
    writer.send("SEND", {"destination": "/topic/slow", "receipt": "held"}, b"y")
    assert pauses(writer.take_events()) == ["pause"]
    assert writer.session.hold is Hold.THROTTLE and writer.take() == []
    bystander.send("SEND", {"destination": "/topic/other", "receipt": "free"}, b"z")
    assert receipts(bystander.take()) == [("free", None)]
    assert bystander.session.hold is None
    writer.session.resume_reading()
    assert receipts(writer.take()) == [("held", None)]


def test_a_consumer_congested_for_too_long_is_dropped() -> None:
    world = World(max_pending_bytes=64 * 1024, slow_consumer_ms=2000)
    slow = world.peer(BOB)
    slow.session.transport_buffered(20 * 1024)
    slow.session.tick(1.0, 0.1)
    slow.session.tick(2.9, 0.1)
    assert slow.session.state is State.CONNECTED
    slow.session.transport_buffered(4 * 1024)           # drained for a moment: starts over
    slow.session.tick(3.0, 0.1)
    slow.session.transport_buffered(20 * 1024)
    slow.session.tick(3.5, 0.1)
    slow.session.tick(5.4, 0.1)
    assert slow.session.state is State.CONNECTED
    slow.session.tick(5.6, 0.1)
    slow.collect()
    assert slow.closed is not None and slow.closed.abort
    assert slow.session.ctx.stats.slow_consumer_drops == {"congested_too_long": 1}


def test_a_consumer_past_the_hard_limit_is_dropped_at_once() -> None:
    world = World(max_pending_bytes=64 * 1024)
    slow = world.peer(BOB)
    slow.send("SUBSCRIBE", {"destination": "/topic/big", "id": "s"})
    slow.session.transport_buffered(60 * 1024)
    world.exchange.publish(world.rules.kind_of("/topic/big"), "/topic/big", (), b"x" * 8192,
                           forward=False)
    slow.collect()
    assert slow.closed is not None and slow.closed.abort
    assert slow.session.ctx.stats.slow_consumer_drops == {"pending_bytes": 1}


def test_heartbeats_both_ways_with_time_passed_in() -> None:
    world = World(heartbeat_send_ms=1000, heartbeat_receive_ms=1000, heartbeat_grace_ms=500)
    peer = world.peer()
    peer.send("CONNECT", {"accept-version": "1.2", "login": "alice", "heart-beat": "1000,1000"})
    peer.session.authenticated(ALICE)
    peer.take()
    peer.session.tick(0.5, 0.1)            # output since the last tick: last_tx = 0.5
    peer.session.tick(1.5, 0.1)
    assert peer.session.out == [(b"\n", True)]
    peer.session.data_to_send()
    peer.feed(b"\n", now=1.6)
    peer.session.tick(2.9, 0.1)
    assert peer.session.state is State.CONNECTED
    peer.session.tick(3.2, 0.1)            # 1.6 s of silence > 1 s + 0.5 s grace
    [error] = peer.take()
    assert error.command is Command.ERROR and "heart-beat" in (error.get("message") or "")


def test_no_connect_in_time() -> None:
    peer = World(connect_timeout_ms=1000).peer(now=5.0)
    peer.session.tick(5.9, 0.1)
    assert peer.take() == []
    peer.session.tick(6.1, 0.1)
    [error] = peer.take()
    assert error.get("message") == "no CONNECT frame in time"


def test_nothing_comes_out_after_error() -> None:
    world = World()
    peer = world.peer(ALICE)
    peer.send("SUBSCRIBE", {"destination": "/topic/t", "id": "1"})
    peer.send("SEND", {"destination": CHAT, "receipt": "m"}, b"x")
    [send] = peer.sends()
    peer.feed(b"NOT-A-COMMAND\n\n\x00" + frame_bytes("SEND", {"destination": "/topic/t"}))
    [error] = peer.take()
    assert error.command is Command.ERROR and peer.session.state is State.CLOSING
    peer.stored(send, 1)
    world.exchange.publish(world.rules.kind_of("/topic/t"), "/topic/t", (), b"late",
                           forward=False)
    peer.session.tick(100.0, 1.0)
    peer.send("SEND", {"destination": "/topic/t", "receipt": "r"})
    assert peer.take() == [] and "/topic/t" not in world.router.topics


@pytest.mark.parametrize(
    "destination",
    ["/user/queue/inbox", "/user/queue/chat", "/user/queue/errors"],
)
def test_user_queues_are_private_to_their_user(destination: str) -> None:
    world = World()
    alice, bob = world.peer(ALICE), world.peer(BOB)
    alice.send("SUBSCRIBE", {"destination": destination, "id": "a"})
    bob.send("SUBSCRIBE", {"destination": destination, "id": "b"})
    resolved = {sub.destination for peer in (alice, bob) for sub in peer.session.subs.values()}
    assert len(resolved) == 2
    if destination == "/user/queue/inbox":
        bob.send("SEND", {"destination": destination}, b"to myself")
        assert [f.body for f in bob.take()] == [b"to myself"] and alice.take() == []
        # the resolved name cannot be used directly by anyone
        alice.send("SUBSCRIBE", {"destination": "/user/2/queue/inbox", "id": "x",
                                 "receipt": "r"})
        [error] = alice.take()
        assert error.command is Command.ERROR and "unknown destination" in (
            error.get("message") or "")


@pytest.mark.parametrize("since", ["²", "-1", " 1", "1_0", "9" * 30, "٣"])
def test_since_seq_accepts_ascii_digits_only(since: str) -> None:
    peer = World().peer(BOB)
    peer.send("SUBSCRIBE", {"destination": CHAT, "id": "c", "x-since-seq": since,
                            "receipt": "s"})
    [error] = peer.take()
    assert error.command is Command.ERROR and "x-since-seq" in (error.get("message") or "")
