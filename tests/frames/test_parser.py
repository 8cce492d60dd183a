"""FrameParser: features, chunking, heart-beats, escaping, and every error class."""

from __future__ import annotations

import pytest

from stompim.frames import (
    Command,
    Frame,
    FrameParser,
    FrameTooLarge,
    HeaderLineTooLong,
    LimitExceeded,
    Limits,
    LocalProtocolError,
    MalformedFrame,
    RemoteProtocolError,
    StompError,
    TooManyHeaders,
    UnknownCommand,
    encode,
)

SEND = b"SEND\ndestination:/q\n\nhello\x00"


def feed_all(data: bytes, parser: FrameParser | None = None) -> tuple[list[Frame], FrameParser]:
    parser = parser or FrameParser()
    return parser.feed(data), parser


def bytewise(data: bytes, parser: FrameParser | None = None) -> tuple[list[Frame], FrameParser]:
    parser = parser or FrameParser()
    out: list[Frame] = []
    for index in range(len(data)):
        out += parser.feed(data[index : index + 1])
    return out, parser


def failure(data: bytes, **kwargs: object) -> RemoteProtocolError:
    limits = kwargs.pop("limits", Limits())
    parser = FrameParser(limits, **kwargs)  # type: ignore[arg-type]
    assert parser.feed(data) == []
    assert parser.error is not None
    return parser.error


# -- features ---------------------------------------------------------------------


def test_simple_frame() -> None:
    frames, parser = feed_all(SEND)
    assert frames == [Frame(Command.SEND, (("destination", "/q"),), b"hello")]
    assert parser.error is None and parser.buffered == 0 and parser.heartbeats == 0


def test_frame_without_headers_and_body() -> None:
    assert feed_all(b"DISCONNECT\n\n\x00")[0] == [Frame(Command.DISCONNECT)]


def test_crlf_line_endings() -> None:
    data = b"SEND\r\ndestination:/q\r\nx:1\r\n\r\nbody\x00"
    expected = [Frame(Command.SEND, (("destination", "/q"), ("x", "1")), b"body")]
    assert feed_all(data)[0] == expected
    assert bytewise(data)[0] == expected


def test_crlf_blank_line_after_lf_lines_with_body_holding_lf_lf() -> None:
    # The head ends at the first blank line even if "\n\n" appears later in the body.
    data = b"SEND\nx:1\n\r\nbo\n\ndy\x00"
    assert feed_all(data)[0] == [Frame(Command.SEND, (("x", "1"),), b"bo\n\ndy")]


def test_non_ascii_head_with_crlf() -> None:
    data = "SEND\r\nnäme:välue€\r\n\r\nb\x00".encode()
    assert feed_all(data)[0] == [Frame(Command.SEND, (("näme", "välue€"),), b"b")]


def test_heartbeats_between_frames_are_skipped_and_counted() -> None:
    data = b"\n\r\n" + SEND + b"\n\n" + SEND + b"\r\n"
    frames, parser = feed_all(data)
    assert len(frames) == 2 and parser.heartbeats == 5 and parser.buffered == 0
    frames, parser = bytewise(data)
    assert len(frames) == 2 and parser.heartbeats == 5


def test_lone_cr_waits_for_lf() -> None:
    parser = FrameParser()
    assert parser.feed(b"\r") == [] and parser.error is None and parser.buffered == 1
    assert parser.feed(b"\n") == [] and parser.heartbeats == 1 and parser.buffered == 0


def test_content_length_body_with_nul() -> None:
    data = b"SEND\ncontent-length:5\n\na\x00b\x00c\x00"
    frames, _ = feed_all(data)
    assert frames[0].body == b"a\x00b\x00c"
    assert bytewise(data)[0] == frames


def test_zero_content_length() -> None:
    assert feed_all(b"SEND\ncontent-length:0\n\n\x00")[0][0].body == b""


def test_no_content_length_ends_at_first_nul() -> None:
    frames, parser = feed_all(b"SEND\n\nab\x00cd\x00")
    assert [f.body for f in frames] == [b"ab"]
    assert parser.error is None and parser.buffered == 3  # "cd\0" waits for its head
    parser.feed(b"\n\n")
    assert type(parser.error) is UnknownCommand


def test_repeated_headers_kept_in_order_first_wins() -> None:
    frames, _ = feed_all(b"MESSAGE\nfoo:1\nbar:x\nfoo:2\n\n\x00")
    assert frames[0].headers == (("foo", "1"), ("bar", "x"), ("foo", "2"))
    assert frames[0].get("foo") == "1"


def test_first_content_length_wins() -> None:
    frames, _ = feed_all(b"SEND\ncontent-length:2\ncontent-length:9\n\nab\x00")
    assert frames[0].body == b"ab"


def test_value_may_contain_colons_and_name_may_be_empty() -> None:
    frames, _ = feed_all(b"SEND\ntime:10:20:30\n:v\n\n\x00")
    assert frames[0].headers == (("time", "10:20:30"), ("", "v"))


def test_many_frames_in_one_chunk_and_split_across_chunks() -> None:
    stream = SEND * 3 + b"SEND\ncontent-length:3\n\nab"
    parser = FrameParser()
    assert len(parser.feed(stream)) == 3
    assert parser.buffered == len(b"SEND\ncontent-length:3\n\nab")
    assert parser.feed(b"c") == []
    assert parser.feed(b"\x00") == [Frame(Command.SEND, (("content-length", "3"),), b"abc")]
    assert parser.buffered == 0


def test_accepts_bytearray_and_memoryview() -> None:
    parser = FrameParser()
    assert len(parser.feed(bytearray(SEND))) == 1
    assert len(parser.feed(memoryview(SEND))) == 1
    assert parser.feed(b"") == []


# -- escaping ---------------------------------------------------------------------

ESCAPED = b"MESSAGE\nk\\c1:a\\nb\\cc\\\\d\n\n\x00"


def test_unescape_12() -> None:
    frames, _ = feed_all(ESCAPED)
    assert frames[0].headers == (("k:1", "a\nb:c\\d"),)
    assert feed_all(b"SEND\nx:a\\rb\n\n\x00")[0][0].get("x") == "a\rb"


def test_unescape_11_rejects_cr_escape() -> None:
    frames, _ = feed_all(ESCAPED, FrameParser(version="1.1"))
    assert frames[0].headers == (("k:1", "a\nb:c\\d"),)
    error = failure(b"SEND\nx:a\\rb\n\n\x00", version="1.1")
    assert isinstance(error, MalformedFrame) and "\\r" in error.message


def test_10_does_not_unescape() -> None:
    frames, _ = feed_all(ESCAPED, FrameParser(version="1.0"))
    assert frames[0].headers == (("k\\c1", "a\\nb\\cc\\\\d"),)
    frames, _ = feed_all(b"SEND\nx:a\\tb\n\n\x00", FrameParser(version="1.0"))
    assert frames[0].get("x") == "a\\tb"


@pytest.mark.parametrize("command", [b"CONNECT", b"STOMP", b"CONNECTED"])
def test_connect_frames_never_unescaped(command: bytes) -> None:
    frames, _ = feed_all(command + b"\npasscode:a\\cb\\t\n\n\x00")
    assert frames[0].get("passcode") == "a\\cb\\t"


def test_version_switch_applies_to_later_frames() -> None:
    parser = FrameParser(version="1.0")
    assert parser.feed(b"SEND\nx:a\\c\n\n\x00")[0].get("x") == "a\\c"
    parser.version = "1.2"
    assert parser.version == "1.2"
    assert parser.feed(b"SEND\nx:a\\c\n\n\x00")[0].get("x") == "a:"
    with pytest.raises(LocalProtocolError):
        parser.version = "2.0"


@pytest.mark.parametrize("header", [b"x:a\\tb", b"x:ab\\", b"x\\q:ab"])
def test_undefined_escape(header: bytes) -> None:
    for version in ("1.1", "1.2"):
        error = failure(b"SEND\n" + header + b"\n\n\x00", version=version)
        assert type(error) is MalformedFrame and "escape" in error.message


# -- errors -----------------------------------------------------------------------


def test_error_hierarchy() -> None:
    assert issubclass(UnknownCommand, MalformedFrame)
    assert issubclass(MalformedFrame, RemoteProtocolError)
    for cls in (FrameTooLarge, TooManyHeaders, HeaderLineTooLong):
        assert issubclass(cls, LimitExceeded) and issubclass(cls, RemoteProtocolError)
    assert issubclass(RemoteProtocolError, StompError)
    assert issubclass(LocalProtocolError, StompError)
    assert not issubclass(LocalProtocolError, RemoteProtocolError)
    error = MalformedFrame("bad thing")
    assert error.message == "bad thing" == str(error)


def test_unknown_command() -> None:
    error = failure(b"FOO\n\n\x00")
    assert type(error) is UnknownCommand and "FOO" in error.message
    assert type(failure(b"send\n\n\x00")) is UnknownCommand
    assert type(failure(b"\rSEND\n\n\x00")) is UnknownCommand


def test_header_line_without_colon() -> None:
    error = failure(b"SEND\ndestination:/q\nnocolon\n\n\x00")
    assert type(error) is MalformedFrame and "nocolon" in error.message


def test_bad_utf8() -> None:
    error = failure(b"SEND\nx:\xff\xfe\n\n\x00")
    assert type(error) is MalformedFrame and "UTF-8" in error.message


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1.5", b"", b"+3", b"\xd9\xa3"])
def test_bad_content_length(value: bytes) -> None:
    error = failure(b"SEND\ncontent-length:" + value + b"\n\nabc\x00")
    assert type(error) is MalformedFrame and "content-length" in error.message


def test_missing_nul_after_content_length_body() -> None:
    error = failure(b"SEND\ncontent-length:2\n\nabc\x00")
    assert type(error) is MalformedFrame and "NUL" in error.message


def test_frame_too_large_with_nul() -> None:
    limits = Limits(max_frame_size=20)
    assert FrameParser(limits).feed(b"SEND\n\n" + b"x" * 14 + b"\x00") != []
    error = failure(b"SEND\n\n" + b"x" * 15 + b"\x00", limits=limits)
    assert type(error) is FrameTooLarge


def test_frame_too_large_without_nul_fails_as_bytes_arrive() -> None:
    parser = FrameParser(Limits(max_frame_size=1000))
    assert parser.feed(b"SEND\n\n") == []
    chunks = 0
    while parser.error is None:
        parser.feed(b"x" * 100)
        chunks += 1
        assert chunks < 20
        assert parser.buffered <= 1100
    assert type(parser.error) is FrameTooLarge
    assert chunks <= 10 and parser.buffered == 0


def test_content_length_too_large_fails_before_body() -> None:
    parser = FrameParser(Limits(max_frame_size=1000))
    assert parser.feed(b"SEND\ncontent-length:5000\n\n") == []
    assert type(parser.error) is FrameTooLarge


def test_too_many_headers() -> None:
    limits = Limits(max_headers=3)
    ok = b"SEND\na:1\nb:2\nc:3\n\n\x00"
    assert len(FrameParser(limits).feed(ok)) == 1
    error = failure(b"SEND\na:1\nb:2\nc:3\nd:4\n\n\x00", limits=limits)
    assert type(error) is TooManyHeaders


def test_too_many_headers_detected_before_head_ends() -> None:
    parser = FrameParser(Limits(max_headers=3))
    parser.feed(b"SEND\n" + b"a:1\n" * 5)
    assert type(parser.error) is TooManyHeaders


def test_header_line_too_long() -> None:
    limits = Limits(max_header_length=10)
    assert len(FrameParser(limits).feed(b"SEND\nabcd:12345\n\n\x00")) == 1
    assert len(FrameParser(limits).feed(b"SEND\r\nabcd:12345\r\n\r\n\x00")) == 1
    error = failure(b"SEND\nabcd:123456\n\n\x00", limits=limits)
    assert type(error) is HeaderLineTooLong
    assert type(failure(b"SENDXXXXXXX\n\n\x00", limits=limits)) is HeaderLineTooLong


def test_header_line_too_long_detected_before_line_ends() -> None:
    parser = FrameParser(Limits(max_header_length=100))
    parser.feed(b"SEND\nx:")
    for _ in range(10):
        parser.feed(b"y" * 50)
        if parser.error:
            break
    assert type(parser.error) is HeaderLineTooLong
    # Same for a command line that never ends.
    parser = FrameParser(Limits(max_header_length=100))
    parser.feed(b"S" * 500)
    assert type(parser.error) is HeaderLineTooLong


def test_frames_before_error_are_returned_and_parser_dies() -> None:
    parser = FrameParser()
    frames = parser.feed(SEND + SEND + b"BOGUS\n\n\x00" + SEND)
    assert len(frames) == 2
    assert type(parser.error) is UnknownCommand
    assert parser.feed(SEND) == [] and parser.buffered == 0


def test_incomplete_input_is_never_an_error() -> None:
    for cut in range(len(SEND)):
        parser = FrameParser()
        assert parser.feed(SEND[:cut]) == [] and parser.error is None
        assert parser.buffered == cut


def test_byte_at_a_time_equals_whole() -> None:
    stream = (
        b"\n"
        + SEND
        + encode(Frame(Command.MESSAGE, (("a", "x:y\n"),), b"\x00\n\n\x00"))
        + b"\r\n"
        + b"SEND\r\nx:1\r\n\r\n\x00"
        + ESCAPED
    )
    whole, parser_whole = feed_all(stream)
    single, parser_single = bytewise(stream)
    assert len(whole) == 4 and whole == single
    assert parser_whole.heartbeats == parser_single.heartbeats == 2


# -- the head ends at the first empty line (LF or CRLF), never later -----------------


def test_crlf_head_with_binary_body_holding_lf_lf() -> None:
    body = b"\xff\xfe\n\n\x00\r\n\r\n\x80"
    data = b"SEND\r\ncontent-length:%d\r\n\r\n" % len(body) + body + b"\x00"
    expected = [Frame(Command.SEND, (("content-length", str(len(body))),), body)]
    assert feed_all(data)[0] == expected
    assert bytewise(data)[0] == expected


def test_crlf_head_with_body_line_longer_than_a_header_line() -> None:
    limits = Limits(max_header_length=16)
    body = b"x" * 100 + b"\n\n" + b"y" * 100
    data = b"SEND\r\na:b\r\n\r\n" + body + b"\x00"
    expected = [Frame(Command.SEND, (("a", "b"),), body)]
    assert feed_all(data, FrameParser(limits))[0] == expected
    assert bytewise(data, FrameParser(limits))[0] == expected


def test_crlf_frame_followed_by_a_frame_holding_lf_lf() -> None:
    second = b"SEND\ncontent-length:2\n\n\n\n\x00"
    data = b"SEND\r\na:b\r\n\r\nhi\x00" + second
    frames, parser = feed_all(data)
    assert frames == [
        Frame(Command.SEND, (("a", "b"),), b"hi"),
        Frame(Command.SEND, (("content-length", "2"),), b"\n\n"),
    ]
    assert parser.error is None and bytewise(data)[0] == frames


@pytest.mark.parametrize("cut", range(1, 8))
def test_lf_then_crlf_empty_line_split_anywhere(cut: int) -> None:
    # The case that once made the fast and general paths disagree: the head "SEND"
    # ends at the CRLF empty line, so the final LF starts the body.
    data = b"SEND\n\r\n\n"
    parser = FrameParser()
    assert parser.feed(data[:cut]) + parser.feed(data[cut:]) == []
    assert parser.error is None and parser.buffered == len(data)
    assert parser.feed(b"\x00") == [Frame(Command.SEND, (), b"\n")]


def test_mixed_line_ends_in_one_head() -> None:
    data = b"SEND\r\na:1\nb:2\r\n\n\r\n\x00"
    expected = [Frame(Command.SEND, (("a", "1"), ("b", "2")), b"\r\n")]
    assert feed_all(data)[0] == expected == bytewise(data)[0]


def test_content_length_of_thousands_of_digits_is_too_large_not_a_crash() -> None:
    assert type(failure(b"SEND\ncontent-length:" + b"9" * 5000 + b"\n\n\x00")) is FrameTooLarge
    frames, parser = feed_all(b"SEND\ncontent-length:" + b"0" * 5000 + b"2\n\nab\x00")
    assert parser.error is None and frames[0].body == b"ab"


def test_unknown_command_detected_when_its_line_ends() -> None:
    parser = FrameParser()
    assert parser.feed(b"GARBAGE") == [] and parser.error is None
    assert parser.feed(b"\nx:y\n") == [] and type(parser.error) is UnknownCommand
    assert parser.buffered == 0


def test_every_complete_line_of_a_partial_head_is_checked() -> None:
    parser = FrameParser(Limits(max_header_length=10))
    parser.feed(b"SEND\n" + b"a:" + b"x" * 20 + b"\nb:1")  # the long line is not the last
    assert type(parser.error) is HeaderLineTooLong


# -- fast path --------------------------------------------------------------------


def test_fast_path_frames_are_real_frozen_frames() -> None:
    frame = feed_all(b"SEND\na:b\ncontent-length:2\n\nhi\x00")[0][0]
    assert type(frame) is Frame
    assert frame == Frame(Command.SEND, (("a", "b"), ("content-length", "2")), b"hi")
    with pytest.raises(AttributeError):
        frame.body = b"x"  # type: ignore[misc]
    assert hash(frame) == hash(Frame(frame.command, frame.headers, frame.body))


def test_fast_path_blank_has_the_frame_layout() -> None:
    from stompim.frames.parser import _Blank

    assert _Blank.__slots__ == Frame.__slots__
    assert Frame.__bases__ == _Blank.__bases__ == (object,)
    assert not hasattr(Frame(Command.SEND), "__dict__")


def test_split_stream_goes_back_to_the_fast_path_after_the_held_frame() -> None:
    stream = SEND * 5
    for cut in range(len(stream) + 1):
        parser = FrameParser()
        frames = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
        assert frames == [Frame(Command.SEND, (("destination", "/q"),), b"hello")] * 5
        assert parser.buffered == 0 and parser.error is None


def test_setting_limits_applies_to_the_fast_path() -> None:
    parser = FrameParser()
    parser.limits = Limits(max_frame_size=10)
    assert parser.limits == Limits(max_frame_size=10)
    assert parser.feed(b"SEND\n\n" + b"x" * 20 + b"\x00") == []
    assert type(parser.error) is FrameTooLarge
