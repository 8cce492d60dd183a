"""Sans-I/O STOMP 1.0/1.1/1.2 codec: bytes in, frames out; frames in, bytes out.

Pure: no asyncio, no I/O, no imports from the rest of stompim.  See
:class:`FrameParser` (incremental parsing with limits), :func:`encode` and
:class:`MessageTemplate` (encoding, including the fan-out fast path), and
:mod:`stompim.frames.errors` (the error hierarchy).
"""

from __future__ import annotations

from .commands import SUPPORTED_VERSIONS, V1_0, V1_1, V1_2, Command
from .encoder import HEARTBEAT, MessageTemplate, encode
from .errors import (
    FrameTooLarge,
    HeaderLineTooLong,
    LimitExceeded,
    LocalProtocolError,
    MalformedFrame,
    RemoteProtocolError,
    StompError,
    TooManyHeaders,
    UnknownCommand,
)
from .frame import Frame, Limits
from .parser import FrameParser

__all__ = [
    "HEARTBEAT",
    "SUPPORTED_VERSIONS",
    "V1_0",
    "V1_1",
    "V1_2",
    "Command",
    "Frame",
    "FrameParser",
    "FrameTooLarge",
    "HeaderLineTooLong",
    "LimitExceeded",
    "Limits",
    "LocalProtocolError",
    "MalformedFrame",
    "MessageTemplate",
    "RemoteProtocolError",
    "StompError",
    "TooManyHeaders",
    "UnknownCommand",
    "encode",
]
