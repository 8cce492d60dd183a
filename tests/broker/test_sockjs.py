"""The sans-I/O SockJS module: frames both ways, one session's queue, receiver and clocks."""

from __future__ import annotations

import json

import pytest

from stompim.broker.sockjs import (
    ANOTHER_CONNECTION,
    HEARTBEAT,
    OPEN,
    SockJsError,
    SockJsSession,
    close_frame,
    message_frame,
    parse_messages,
    valid_segment,
)


def session(now: float = 0.0, **options: float) -> SockJsSession:
    settings = {"heartbeat": 25.0, "disconnect_delay": 5.0, "max_queued_bytes": 1000, **options}
    return SockJsSession("s1", now, heartbeat=settings["heartbeat"],
                         disconnect_delay=settings["disconnect_delay"],
                         max_queued_bytes=int(settings["max_queued_bytes"]))


# ------------------------------------------------------------------------ frames


def test_message_frame_round_trips_stomp_text_with_nul_and_newlines() -> None:
    stomp = "MESSAGE\ndestination:/topic/a\n\nhé \"quoted\"\x00"
    frame = message_frame([stomp, "\n"])
    assert frame.startswith("a[")
    assert json.loads(frame[1:]) == [stomp, "\n"]
    assert parse_messages(frame[1:].encode()) == [stomp, "\n"]


def test_message_frame_escapes_characters_browsers_mangle() -> None:
    frame = message_frame(["a\u2028b\u200dc\ufffed"])
    assert "\u2028" not in frame and "\\u2028" in frame and "\\u200d" in frame
    assert "\\ufffe" in frame
    assert json.loads(frame[1:]) == ["a\u2028b\u200dc\ufffed"]


def test_close_frame() -> None:
    assert close_frame(3000, "Go away!") == 'c[3000,"Go away!"]'
    assert close_frame(*ANOTHER_CONNECTION) == 'c[2010,"Another connection still open"]'


@pytest.mark.parametrize(("payload", "error"), [
    (b"", "Payload expected."),
    (b"[1", "Broken JSON encoding."),
    (b"[1, 2]", "Broken JSON encoding."),
    (b'{"a": "b"}', "Broken JSON encoding."),
])
def test_parse_messages_refuses_what_sockjs_refuses(payload: bytes, error: str) -> None:
    with pytest.raises(SockJsError, match=error.replace(".", r"\.")):
        parse_messages(payload)


def test_parse_messages_takes_an_array_or_one_string() -> None:
    assert parse_messages(b'["CONNECT\\n\\n\\u0000", "x"]') == ["CONNECT\n\n\x00", "x"]
    assert parse_messages('"one"') == ["one"]
    assert parse_messages(b"[]") == []


@pytest.mark.parametrize(("segment", "ok"), [
    ("abc123", True), ("a.b", False), ("", False), ("a/b", False), ("x-y_z", True),
])
def test_valid_segment(segment: str, ok: bool) -> None:
    assert valid_segment(segment) is ok


# ---------------------------------------------------------------------- sessions


def test_open_then_messages_then_close_in_order() -> None:
    s = session()
    assert s.attach(0.0)
    assert s.pending(0.0)
    assert s.take(0.0) == [OPEN]
    assert not s.pending(0.1)
    assert s.send(["m1", "m2"]) and s.queued_bytes == 4
    s.close()
    assert s.take(0.2) == [message_frame(["m1", "m2"]), 'c[3000,"Go away!"]']
    assert s.queued_bytes == 0
    s.detach(0.3)
    # every later receiver hears the close frame again
    assert s.attach(1.0)
    assert s.take(1.0) == ['c[3000,"Go away!"]']
    assert not s.send(["late"])


def test_one_receiver_at_a_time() -> None:
    s = session()
    assert s.attach(0.0)
    assert not s.attach(0.1)
    s.detach(0.2)
    assert s.attach(0.3)


def test_heartbeat_only_when_nothing_else_went_out_for_the_interval() -> None:
    s = session(heartbeat=10.0)
    s.attach(0.0)
    s.take(0.0)
    assert not s.pending(9.9)
    assert s.pending(10.0)
    assert s.take(10.0) == [HEARTBEAT]
    assert not s.pending(15.0)
    s.send(["m"])
    assert s.take(19.0) == [message_frame(["m"])]   # a message resets the interval
    assert not s.pending(28.0)
    s.detach(28.0)
    assert not s.heartbeat_due(100.0)   # no receiver, no heartbeat


def test_queue_is_bounded_in_bytes() -> None:
    s = session(max_queued_bytes=10)
    assert s.send(["12345"])
    assert s.send(["12345"])
    assert not s.send(["1"])
    assert s.queued_bytes == 10


def test_abort_drops_the_queue() -> None:
    s = session()
    s.attach(0.0)
    s.take(0.0)
    s.send(["a" * 100])
    s.close(drop=True)
    assert s.queued_bytes == 0
    assert s.take(1.0) == ['c[3000,"Go away!"]']


def test_expires_after_disconnect_delay_without_a_receiver() -> None:
    s = session(now=100.0, disconnect_delay=5.0)
    assert not s.expired(104.9)
    assert s.expired(105.0)
    s.attach(105.0)
    assert not s.expired(1000.0)          # a receiver holds it open, however long
    s.detach(1000.0)
    assert not s.expired(1004.0)
    assert s.expired(1005.0)
