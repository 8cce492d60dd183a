"""The Frame value type and the parser's Limits.

Frames are immutable: the parser builds them once and the broker only reads them (or
builds new ones to send).  Headers are a tuple of pairs in wire order, repeats kept,
because STOMP 1.2 ("Repeated Header Entries") says the FIRST occurrence wins and a dict
would lose that information.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .commands import Command

__all__ = ["Frame", "Limits"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One STOMP frame: command, ordered headers (repeats kept), raw body bytes."""

    command: Command
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of the first header called ``name`` (spec 1.2: first repeat wins)."""
        for key, value in self.headers:
            if key == name:
                return value
        return default

    @classmethod
    def build(
        cls,
        command: Command | str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Frame:
        """Convenience constructor: accepts a mapping or pairs, and a command name."""
        if isinstance(headers, Mapping):
            pairs = tuple((str(k), str(v)) for k, v in headers.items())
        else:
            pairs = tuple((str(k), str(v)) for k, v in headers)
        return cls(Command(command), pairs, bytes(body))


@dataclass(frozen=True, slots=True)
class Limits:
    """Security limits applied by :class:`~stompim.frames.FrameParser` as bytes arrive.

    ``max_frame_size`` counts the bytes from the first byte of the command line to the
    last byte of the body (the terminating NUL and heart-beat EOLs are not counted).
    ``max_header_length`` counts the bytes of one line without its EOL; it applies to
    the command line too.
    """

    max_frame_size: int = 1024 * 1024
    max_headers: int = 64
    max_header_length: int = 8192
