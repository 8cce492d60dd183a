"""Frame -> bytes.

:func:`encode` writes exactly what :class:`~stompim.frames.FrameParser` reads back:
LF line ends, headers escaped per version (never for CONNECT/STOMP/CONNECTED), and a
``content-length`` header added when the body is non-empty and the frame has none, so a
body containing NUL survives (spec 1.2 "Header content-length").

:class:`MessageTemplate` is the broker's fan-out helper: a MESSAGE going to N
subscribers differs only in a few per-subscriber headers (``subscription``,
``message-id``, ``ack``).  Build the template once per (destination headers, body,
version), then call :meth:`MessageTemplate.render` once per subscriber; the shared
headers and the body are encoded only once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from itertools import chain

from .commands import UNESCAPED_COMMANDS
from .errors import LocalProtocolError
from .escaping import check_unescaped, escaper_for
from .frame import Frame

__all__ = ["HEARTBEAT", "MessageTemplate", "encode"]

#: One heart-beat: a bare EOL sent between frames (spec 1.2 "Heart-beating").
HEARTBEAT: bytes = b"\n"

_CONTENT_LENGTH = "content-length"
# Any character that some version escapes or refuses; absent -> text goes out as is.
_needs_care = re.compile(r"[\\\n:\r]").search


def _header_lines(
    headers: Iterable[tuple[str, str]],
    esc: Callable[[str], str] | None,
    body_size: int,
    add_length: bool,
) -> list[str]:
    """Encode header pairs to wire lines (without EOL); add/verify content-length."""
    pairs = headers if type(headers) is tuple else tuple(headers)
    joined = "".join(chain.from_iterable(pairs))
    if _needs_care(joined) is None:
        # Fast path: nothing to escape or refuse in any version.
        lines = [name + ":" + value for name, value in pairs]
        length = None
        if _CONTENT_LENGTH in joined:
            length = next((v for n, v in pairs if n == _CONTENT_LENGTH), None)
        if length is None:
            if body_size and add_length:
                lines.append(f"{_CONTENT_LENGTH}:{body_size}")
        elif length != str(body_size):
            raise LocalProtocolError(
                f"content-length header {length!r} does not match the body size {body_size}"
            )
        return lines
    return _careful_lines(pairs, esc, body_size, add_length)


def _careful_lines(
    headers: Iterable[tuple[str, str]],
    esc: Callable[[str], str] | None,
    body_size: int,
    add_length: bool,
) -> list[str]:
    """Slow path of :func:`_header_lines`: escape or check every name and value."""
    lines: list[str] = []
    length: str | None = None
    for name, value in headers:
        if name == _CONTENT_LENGTH and length is None:
            length = value
        if esc is None:
            check_unescaped(name, value)
            lines.append(name + ":" + value)
        else:
            value = esc(value)
            if value[-1:] == "\r":  # only possible in 1.1, which cannot escape CR
                raise LocalProtocolError(
                    f"value of header {name!r} ends with CR, not expressible in STOMP 1.1"
                )
            lines.append(esc(name) + ":" + value)
    if length is None:
        if body_size and add_length:
            lines.append(f"{_CONTENT_LENGTH}:{body_size}")
    elif length != str(body_size):
        raise LocalProtocolError(
            f"content-length header {length!r} does not match the body size {body_size}"
        )
    return lines


def _to_utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"header text is not encodable as UTF-8: {exc.reason}") from None


def encode(frame: Frame, version: str = "1.2") -> bytes:
    """Serialise ``frame`` for a session speaking STOMP ``version``.

    Raises :class:`LocalProtocolError` when the frame cannot be expressed: a header
    that needs escaping where none is allowed (1.0, CONNECT...), a value ending in CR
    in 1.1, a ``content-length`` header that disagrees with the body, text that is
    not valid Unicode.
    """
    command = frame.command
    esc = None if command in UNESCAPED_COMMANDS else escaper_for(version)
    body = frame.body
    lines = _header_lines(frame.headers, esc, len(body), True)
    head = _to_utf8(command.value + "\n" + "".join([line + "\n" for line in lines]) + "\n")
    return b"".join((head, body, b"\x00"))


class MessageTemplate:
    """A MESSAGE frame encoded once, with per-subscriber headers spliced in later.

    Call order: ``MessageTemplate(headers, body, version)`` once per fan-out, then
    ``render(per_subscriber_headers)`` per subscriber.  The result equals
    ``encode(Frame(Command.MESSAGE, (*per_subscriber_headers, *headers), body),
    version)``: per-subscriber headers come first, so they win over a shared header of
    the same name (first repeat wins).  Per-subscriber headers must not include
    ``content-length``.
    """

    __slots__ = ("_esc", "_suffix", "version")

    _PREFIX = b"MESSAGE\n"

    def __init__(
        self, headers: Iterable[tuple[str, str]], body: bytes, version: str = "1.2"
    ) -> None:
        self.version = version
        self._esc = escaper_for(version)
        lines = _header_lines(headers, self._esc, len(body), True)
        shared = _to_utf8("".join([line + "\n" for line in lines]) + "\n")
        self._suffix = b"".join((shared, body, b"\x00"))

    def render(self, headers: Iterable[tuple[str, str]] = ()) -> bytes:
        """The full frame with ``headers`` (escaped here) before the shared ones."""
        esc = self._esc
        parts: list[str] = []
        for name, value in headers:
            if name == _CONTENT_LENGTH:
                raise LocalProtocolError("content-length cannot be a per-subscriber header")
            if esc is None:
                check_unescaped(name, value)
                parts.append(name + ":" + value + "\n")
            else:
                value = esc(value)
                if value[-1:] == "\r":
                    raise LocalProtocolError(
                        f"value of header {name!r} ends with CR, not expressible in STOMP 1.1"
                    )
                parts.append(esc(name) + ":" + value + "\n")
        return b"".join((self._PREFIX, _to_utf8("".join(parts)), self._suffix))
