"""encode() and MessageTemplate: exact bytes, refusals, and agreement with the parser."""

from __future__ import annotations

import pytest

from stompim.frames import (
    Command,
    Frame,
    FrameParser,
    LocalProtocolError,
    MessageTemplate,
    encode,
)


def parse_one(data: bytes, version: str = "1.2") -> Frame:
    parser = FrameParser(version=version)
    result = parser.feed(data)
    assert parser.error is None, parser.error
    assert len(result) == 1 and parser.buffered == 0
    return result[0]


def test_exact_bytes_without_body() -> None:
    frame = Frame(Command.SUBSCRIBE, (("id", "0"), ("destination", "/topic/a")))
    assert encode(frame) == b"SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\x00"


def test_content_length_added_for_body() -> None:
    data = encode(Frame(Command.SEND, (("destination", "/q"),), b"a\x00b"))
    assert data == b"SEND\ndestination:/q\ncontent-length:3\n\na\x00b\x00"
    assert parse_one(data).body == b"a\x00b"


def test_existing_content_length_kept_and_checked() -> None:
    frame = Frame(Command.SEND, (("content-length", "2"),), b"ab")
    assert encode(frame) == b"SEND\ncontent-length:2\n\nab\x00"
    with pytest.raises(LocalProtocolError, match="does not match"):
        encode(Frame(Command.SEND, (("content-length", "5"),), b"ab"))


def test_escaping_per_version() -> None:
    frame = Frame(Command.MESSAGE, (("k:1", "a\nb:c\\d\re"),))
    assert encode(frame, "1.2").startswith(b"MESSAGE\nk\\c1:a\\nb\\cc\\\\d\\re\n")
    assert encode(frame, "1.1").startswith(b"MESSAGE\nk\\c1:a\\nb\\cc\\\\d\re\n")
    with pytest.raises(LocalProtocolError):
        encode(frame, "1.0")
    assert encode(Frame(Command.MESSAGE, (("k", "a:b\\c"),)), "1.0").startswith(
        b"MESSAGE\nk:a:b\\c\n"
    )


def test_connect_and_connected_are_never_escaped() -> None:
    frame = Frame(Command.CONNECT, (("passcode", "a:b\\c"),))
    data = encode(frame, "1.2")
    assert b"passcode:a:b\\c\n" in data
    assert parse_one(data) == frame
    with pytest.raises(LocalProtocolError):
        encode(Frame(Command.CONNECTED, (("x", "a\nb"),)), "1.2")


def test_unrepresentable_headers_refused() -> None:
    with pytest.raises(LocalProtocolError, match="CR"):
        encode(Frame(Command.SEND, (("x", "ends\r"),)), "1.1")
    with pytest.raises(LocalProtocolError):
        encode(Frame(Command.SEND, (("x", "ends\r"),)), "1.0")
    with pytest.raises(LocalProtocolError, match="UTF-8"):
        encode(Frame(Command.SEND, (("x", "\ud800"),)))
    with pytest.raises(LocalProtocolError, match="version"):
        encode(Frame(Command.SEND), "2.0")


def test_template_equals_encode() -> None:
    shared = (("destination", "/topic/x:y"), ("content-type", "text/plain"))
    body = b"hello\x00world"
    for version in ("1.0", "1.1", "1.2"):
        template = MessageTemplate(shared, body, version)
        for index in range(3):
            own = (
                ("subscription", f"s-{index}"),
                ("message-id", f"m-{index}"),
                ("ack", f"a-{index}"),
            )
            expected = encode(Frame(Command.MESSAGE, own + shared, body), version)
            assert template.render(own) == expected
    empty = MessageTemplate((("destination", "/q"),), b"", "1.2")
    assert empty.render() == encode(Frame(Command.MESSAGE, (("destination", "/q"),)))


def test_template_escapes_per_subscriber_headers() -> None:
    template = MessageTemplate((("destination", "/q"),), b"x", "1.2")
    own = (("message-id", "id:with\nstuff\\"),)
    data = template.render(own)
    assert data == encode(Frame(Command.MESSAGE, (*own, ("destination", "/q")), b"x"))
    assert parse_one(data).get("message-id") == "id:with\nstuff\\"


def test_template_refusals() -> None:
    template = MessageTemplate((), b"x", "1.2")
    with pytest.raises(LocalProtocolError, match="content-length"):
        template.render((("content-length", "1"),))
    with pytest.raises(LocalProtocolError):
        MessageTemplate((), b"x", "1.0").render((("a", "b\nc"),))
    with pytest.raises(LocalProtocolError):
        MessageTemplate((), b"x", "1.1").render((("a", "b\r"),))
    with pytest.raises(LocalProtocolError):
        MessageTemplate((("content-length", "9"),), b"x")
