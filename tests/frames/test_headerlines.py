"""The shared header-line cache and the parser's fast path around it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stompim.frames import (
    Command,
    Frame,
    FrameParser,
    FrameTooLarge,
    Limits,
    MalformedFrame,
    UnknownCommand,
    encode,
    headerlines,
)
from stompim.frames.headerlines import RAW, V11, V12, cache_for, clear_caches
from stompim.frames.parser import _Blank


@pytest.fixture(autouse=True)
def cold_caches() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def parse_one(data: bytes, version: str = "1.2") -> Frame:
    parser = FrameParser(version=version)
    (frame,) = parser.feed(data)
    assert parser.error is None
    return frame


def test_repeated_lines_are_cached_and_give_equal_frames() -> None:
    data = b"SEND\ndestination:/topic/x\ncontent-type:text/plain\n\nhi\x00"
    first = parse_one(data)
    assert V12[b"destination:/topic/x"] == ("destination", "/topic/x")
    assert (
        parse_one(data)
        == first
        == Frame.build(
            Command.SEND, [("destination", "/topic/x"), ("content-type", "text/plain")], b"hi"
        )
    )


def test_one_cache_per_escaping_mode() -> None:
    data = b"SEND\nk:a\\cb\n\n\x00"
    assert parse_one(data, "1.2").headers == (("k", "a:b"),)
    assert parse_one(data, "1.0").headers == (("k", "a\\cb"),)  # 1.0: no escapes
    assert parse_one(data, "1.1").headers == (("k", "a:b"),)
    assert V12[b"k:a\\cb"] == ("k", "a:b") and RAW[b"k:a\\cb"] == ("k", "a\\cb")
    assert V11[b"k:a\\cb"] == ("k", "a:b")
    assert cache_for("1.0") is RAW and cache_for("1.1") is V11 and cache_for("1.2") is V12


def test_connect_headers_use_the_raw_cache_in_every_version() -> None:
    for command in (b"CONNECT", b"STOMP", b"CONNECTED"):
        frame = parse_one(command + b"\npasscode:a\\cb\n\n\x00", "1.2")
        assert frame.headers == (("passcode", "a\\cb"),)
    assert b"passcode:a\\cb" in RAW and b"passcode:a\\cb" not in V12


def test_version_1_1_keeps_cr_escape_an_error_after_1_2_cached_it() -> None:
    parse_one(b"SEND\nx:a\\rb\n\n\x00", "1.2")
    parser = FrameParser(version="1.1")
    assert parser.feed(b"SEND\nx:a\\rb\n\n\x00") == []
    assert type(parser.error) is MalformedFrame


@pytest.mark.parametrize("line", [b"nocolon", b"x:\xff\xfe", b"x:a\\tb", b"x:a\\"], ids=str)
def test_bad_lines_are_errors_every_time_and_never_stored(line: bytes) -> None:
    for _ in range(2):
        parser = FrameParser()
        assert parser.feed(b"SEND\n" + line + b"\n\n\x00") == []
        assert type(parser.error) is MalformedFrame
    assert line not in V12


def test_cache_is_cleared_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(headerlines, "MAX_ENTRIES", 8)
    parser = FrameParser()
    for index in range(8):
        parser.feed(f"SEND\nh{index}:v\n\n\x00".encode())
    assert len(V12) == 8
    assert parser.feed(b"SEND\nlast:v\n\n\x00")[0].headers == (("last", "v"),)
    assert dict(V12) == {b"last:v": ("last", "v")}


def test_names_with_many_values_stop_being_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(headerlines, "MAX_PER_NAME", 4)
    parser = FrameParser()
    for index in range(10):
        frame = parser.feed(f"SEND\nmessage-id:{index}\ndestination:/q\n\n\x00".encode())[0]
        assert frame.headers == (("message-id", str(index)), ("destination", "/q"))
    assert [line for line in V12 if line.startswith(b"message-id:")] == [
        f"message-id:{index}".encode() for index in range(4)
    ]
    assert b"destination:/q" in V12


def test_long_lines_are_parsed_but_not_stored() -> None:
    value = "v" * headerlines.MAX_CACHED_LINE
    frame = parse_one(f"SEND\ntoken:{value}\n\n\x00".encode())
    assert frame.headers == (("token", value),)
    assert not V12


def test_fast_path_frames_are_real_frozen_frames() -> None:
    frame = parse_one(b"SEND\na:b\ncontent-length:2\n\nhi\x00")
    expected = Frame(Command.SEND, (("a", "b"), ("content-length", "2")), b"hi")
    assert type(frame) is Frame and frame == expected
    with pytest.raises(AttributeError):
        frame.body = b"x"  # type: ignore[misc]
    assert hash(frame) == hash(Frame(frame.command, frame.headers, frame.body))


def test_blank_twin_has_the_frame_layout() -> None:
    assert _Blank.__slots__ == Frame.__slots__
    assert Frame.__bases__ == _Blank.__bases__ == (object,)
    assert not hasattr(Frame(Command.SEND), "__dict__")


def test_error_in_a_later_frame_keeps_earlier_frames() -> None:
    good = b"SEND\ndestination:/q\n\nok\x00"
    parser = FrameParser()
    frames = parser.feed(good + good + b"SEND\nbroken\n\n\x00" + good)
    assert [frame.body for frame in frames] == [b"ok", b"ok"]
    assert type(parser.error) is MalformedFrame and parser.feed(good) == []


def test_unknown_command_after_good_frames_in_one_chunk() -> None:
    parser = FrameParser()
    assert len(parser.feed(b"SEND\n\n\x00FOO\n\n\x00")) == 1
    assert type(parser.error) is UnknownCommand


def test_body_arriving_later_after_fast_path_parsed_the_head() -> None:
    data = encode(Frame.build(Command.SEND, {"destination": "/q"}, b"x" * 1000))
    frame = Frame.build(Command.SEND, {"destination": "/q", "content-length": "1000"}, b"x" * 1000)
    for cut in (len(data) - 600, len(data) - 1):  # body split / only the NUL missing
        parser = FrameParser()
        assert parser.feed(SEND_OK + data[:cut]) == [Frame.build(Command.SEND, {}, b"ok")]
        assert parser.buffered == cut
        assert parser.feed(data[cut:]) == [frame] and parser.buffered == 0


def test_body_without_content_length_arriving_later() -> None:
    parser = FrameParser()
    assert parser.feed(b"SEND\n\nabc") == [] and parser.buffered == 9
    assert parser.feed(b"def\x00") == [Frame(Command.SEND, (), b"abcdef")]


def test_size_limit_on_an_unfinished_body_in_the_first_chunk() -> None:
    parser = FrameParser(Limits(max_frame_size=50))
    assert parser.feed(b"SEND\n\n" + b"x" * 60) == []
    assert type(parser.error) is FrameTooLarge
    parser = FrameParser(Limits(max_frame_size=50))
    assert parser.feed(b"SEND\ncontent-length:60\n\nxx") == []
    assert type(parser.error) is FrameTooLarge


def test_setting_limits_applies_to_the_fast_path() -> None:
    parser = FrameParser()
    parser.limits = Limits(max_frame_size=10)
    assert parser.limits == Limits(max_frame_size=10)
    assert parser.feed(b"SEND\n\n" + b"x" * 20 + b"\x00") == []
    assert type(parser.error) is FrameTooLarge


SEND_OK = b"SEND\n\nok\x00"
