"""Property tests: encode -> parse round trips, chunking invariance, no exceptions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stompim.frames import (
    Command,
    Frame,
    FrameParser,
    Limits,
    MessageTemplate,
    RemoteProtocolError,
    encode,
)
from stompim.frames.commands import UNESCAPED_COMMANDS

SETTINGS = settings(max_examples=200, deadline=None)
LIMITS = Limits(max_frame_size=1 << 20, max_headers=64, max_header_length=1 << 16)

# Text with the characters escaping is about, plus arbitrary unicode (no surrogates).
tricky = st.text(
    alphabet=st.one_of(
        st.sampled_from(":\n\\\r\x00 é€😀"), st.characters(blacklist_categories=("Cs",))
    ),
    max_size=12,
)
# 1.0 (and CONNECT) cannot express names with ':' / '\n' or values with '\n' / final CR.
plain_name = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=":\n"), max_size=12
)
plain_value = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=12
).filter(lambda value: not value.endswith("\r"))
bodies = st.binary(max_size=64) | st.sampled_from([b"", b"\x00", b"a\x00\n\n\x00b"])
escaped_commands = st.sampled_from([c for c in Command if c not in UNESCAPED_COMMANDS])


def no_content_length(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name != "content-length"]


@st.composite
def frames_for(draw: st.DrawFn, version: str) -> Frame:
    command = draw(st.sampled_from(list(Command)))
    if version == "1.0" or command in UNESCAPED_COMMANDS:
        pairs = st.tuples(plain_name, plain_value)
    else:
        pairs = st.tuples(tricky, tricky)
        if version == "1.1":
            pairs = pairs.filter(lambda pair: not pair[1].endswith("\r"))
    headers = no_content_length(draw(st.lists(pairs, max_size=6)))
    return Frame(command, tuple(headers), draw(bodies))


def with_length(frame: Frame) -> Frame:
    """The frame as parsed back: encode() appends content-length for a body."""
    if frame.body:
        extra = (("content-length", str(len(frame.body))),)
        return Frame(frame.command, frame.headers + extra, frame.body)
    return frame


def parse_all(data: bytes, version: str, cuts: list[int] | None = None) -> list[Frame]:
    parser = FrameParser(LIMITS, version)
    out: list[Frame] = []
    previous = 0
    for cut in [*sorted(cuts or []), len(data)]:
        out += parser.feed(data[previous:cut])
        previous = cut
    assert parser.error is None, parser.error
    assert parser.buffered == 0
    return out


@SETTINGS
@given(st.data())
def test_round_trip_all_versions(data: st.DataObject) -> None:
    version = data.draw(st.sampled_from(["1.0", "1.1", "1.2"]))
    frames = data.draw(st.lists(frames_for(version), min_size=1, max_size=4))
    wire = b"".join(encode(frame, version) for frame in frames)
    assert parse_all(wire, version) == [with_length(frame) for frame in frames]


@SETTINGS
@given(st.data())
def test_round_trip_12_tricky_headers(data: st.DataObject) -> None:
    headers = no_content_length(data.draw(st.lists(st.tuples(tricky, tricky), max_size=8)))
    command = data.draw(escaped_commands)
    frame = Frame(command, tuple(headers), data.draw(bodies))
    assert parse_all(encode(frame, "1.2"), "1.2") == [with_length(frame)]


@SETTINGS
@given(st.data())
def test_same_frames_however_chunked(data: st.DataObject) -> None:
    version = data.draw(st.sampled_from(["1.0", "1.1", "1.2"]))
    frames = data.draw(st.lists(frames_for(version), min_size=1, max_size=4))
    beats = data.draw(
        st.lists(st.sampled_from([b"", b"\n", b"\r\n"]), min_size=len(frames), max_size=len(frames))
    )
    pairs = zip(beats, frames, strict=False)
    wire = b"".join(beat + encode(frame, version) for beat, frame in pairs)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=12))
    assert parse_all(wire, version, cuts) == parse_all(wire, version)


@SETTINGS
@given(st.data())
def test_template_render_matches_encode(data: st.DataObject) -> None:
    version = data.draw(st.sampled_from(["1.1", "1.2"]))
    pairs = st.tuples(tricky, tricky).filter(lambda pair: not pair[1].endswith("\r"))
    shared = tuple(no_content_length(data.draw(st.lists(pairs, max_size=4))))
    own = tuple(no_content_length(data.draw(st.lists(pairs, max_size=3))))
    body = data.draw(bodies)
    rendered = MessageTemplate(shared, body, version).render(own)
    assert rendered == encode(Frame(Command.MESSAGE, own + shared, body), version)


@SETTINGS
@given(
    st.lists(
        st.binary(max_size=40)
        | st.sampled_from([b"SEND\n", b"\n\n", b"\x00", b":", b"content-length:3\n", b"\\"]),
        max_size=10,
    ),
    st.sampled_from(["1.0", "1.1", "1.2"]),
)
def test_parser_never_raises(chunks: list[bytes], version: str) -> None:
    parser = FrameParser(Limits(max_frame_size=200, max_headers=4, max_header_length=50), version)
    for chunk in chunks:
        result = parser.feed(chunk)
        assert all(isinstance(frame, Frame) for frame in result)
    assert parser.error is None or isinstance(parser.error, RemoteProtocolError)
    assert parser.buffered <= 200 + 50
