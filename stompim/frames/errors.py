"""Errors raised by the STOMP codec.

Why two branches: the broker must tell "the peer sent garbage" (answer with an ERROR frame
and close) from "our own code called the codec wrongly" (a bug on our side, never the
peer's fault).  Every error carries a short, readable ``message`` that can go verbatim
into the ``message`` header of an ERROR frame.

Hierarchy::

    stompim.errors.ProtocolError          (the project's one error tree, stompim/errors.py)
     └── StompError                       .message: str
          ├── LocalProtocolError          we misused the API (e.g. encode() got a header
          │                               that cannot be written in this STOMP version)
          └── RemoteProtocolError         the peer sent something wrong
               ├── MalformedFrame         bad syntax, bad escape, bad UTF-8, bad
               │    │                     content-length, missing NUL after a
               │    │                     content-length body
               │    └── UnknownCommand    command line is not a STOMP command
               └── LimitExceeded          a configured Limits value was passed
                    ├── FrameTooLarge     Limits.max_frame_size
                    ├── TooManyHeaders    Limits.max_headers
                    └── HeaderLineTooLong Limits.max_header_length
"""

from __future__ import annotations

from stompim import errors as tree

__all__ = [
    "FrameTooLarge",
    "HeaderLineTooLong",
    "LimitExceeded",
    "LocalProtocolError",
    "MalformedFrame",
    "RemoteProtocolError",
    "StompError",
    "TooManyHeaders",
    "UnknownCommand",
]


class StompError(tree.ProtocolError):
    """Base of every codec error; ``message`` is fit for an ERROR frame header."""


class LocalProtocolError(StompError, tree.LocalProtocolError):
    """Our side asked the codec for something STOMP cannot express."""


class RemoteProtocolError(StompError, tree.RemoteProtocolError):
    """The peer broke the protocol; answer with ERROR and close the connection."""


class MalformedFrame(RemoteProtocolError):
    """The bytes do not form a valid STOMP frame."""


class UnknownCommand(MalformedFrame):
    """The command line names no STOMP command."""


class LimitExceeded(RemoteProtocolError):
    """A frame passed one of the configured :class:`~stompim.frames.Limits`."""


class FrameTooLarge(LimitExceeded):
    """Command, headers and body together exceed ``Limits.max_frame_size``."""


class TooManyHeaders(LimitExceeded):
    """More header lines than ``Limits.max_headers``."""


class HeaderLineTooLong(LimitExceeded):
    """One header line (or the command line) exceeds ``Limits.max_header_length``."""
