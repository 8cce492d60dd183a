"""Frame, Command, Limits and the package surface."""

from __future__ import annotations

import dataclasses

import pytest

from stompim import frames
from stompim.frames import SUPPORTED_VERSIONS, Command, Frame, Limits


def test_all_is_complete_and_importable() -> None:
    public = {name for name in dir(frames) if not name.startswith("_")}
    modules = {"commands", "encoder", "errors", "escaping", "frame", "general", "parser",
               "annotations"}
    assert set(frames.__all__) == public - modules
    for name in frames.__all__:
        assert getattr(frames, name) is not None


def test_command_values_are_wire_names() -> None:
    assert {c.value for c in Command} == {
        "CONNECT",
        "STOMP",
        "CONNECTED",
        "SEND",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "ACK",
        "NACK",
        "BEGIN",
        "COMMIT",
        "ABORT",
        "DISCONNECT",
        "MESSAGE",
        "RECEIPT",
        "ERROR",
    }
    assert Command("SEND") is Command.SEND
    assert str(Command.ACK) == "ACK"
    assert SUPPORTED_VERSIONS == ("1.0", "1.1", "1.2")


def test_get_returns_first_repeat() -> None:
    frame = Frame(Command.MESSAGE, (("a", "1"), ("b", "2"), ("a", "3")))
    assert frame.get("a") == "1"
    assert frame.get("b") == "2"
    assert frame.get("missing") is None
    assert frame.get("missing", "x") == "x"


def test_build_accepts_mapping_pairs_and_names() -> None:
    from_map = Frame.build(Command.SEND, {"destination": "/q", "x": "1"}, b"hi")
    from_pairs = Frame.build("SEND", [("destination", "/q"), ("x", "1")], bytearray(b"hi"))
    assert from_map == from_pairs
    assert from_map.headers == (("destination", "/q"), ("x", "1"))
    assert type(from_pairs.body) is bytes
    with pytest.raises(ValueError):
        Frame.build("NOPE")


def test_frame_and_limits_are_frozen() -> None:
    frame = Frame(Command.SEND)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.body = b"x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Limits().max_headers = 1  # type: ignore[misc]
    assert Limits() == Limits(1024 * 1024, 64, 8192)
