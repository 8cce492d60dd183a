"""Incremental STOMP frame parser (sans-I/O): bytes in, frames out.

Call order: create one :class:`FrameParser` per connection; call :meth:`~FrameParser.feed`
with every chunk read from the transport, in order; handle the frames it returns; after
each call check :attr:`~FrameParser.error`: once set, reply with an ERROR frame carrying
``error.message`` and close (the parser is dead and ignores further input).  Set
:attr:`~FrameParser.version` as soon as CONNECT negotiation has picked one; it governs
header unescaping of the frames parsed after that.

How it stays fast and bounded:

* Unconsumed input sits in one ``bytearray``; when it is empty (the usual case: chunks
  hold whole frames) the incoming ``bytes`` are parsed in place, without a copy.
* Delimiters are found with ``bytes.find`` (C ``memchr``/two-way search), never a
  Python loop per byte.  Each search resumes where the previous feed stopped, so a
  frame arriving one byte at a time is still scanned in O(n) overall.
* The head (command + headers) is decoded from UTF-8 once and split once; unescaping
  runs only when the head contains a backslash.
* Limits are checked on the bytes already held, before the frame is complete: a
  frame without NUL fails as soon as it passes ``max_frame_size``, and a
  ``content-length`` that is too large fails before its body is read.

Wire rules followed (STOMP 1.2 spec, "Augmented BNF"): lines end in LF or CRLF;
EOLs between frames are heart-beats (counted in :attr:`~FrameParser.heartbeats`; the
optional EOLs after a frame's NUL are counted too); the header name ends at the first
``:``; with ``content-length`` the body is exactly that many octets and must be
followed by NUL, without it the body ends at the first NUL.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .commands import SUPPORTED_VERSIONS, UNESCAPED_COMMANDS, Command
from .errors import (
    FrameTooLarge,
    HeaderLineTooLong,
    LocalProtocolError,
    MalformedFrame,
    RemoteProtocolError,
    TooManyHeaders,
    UnknownCommand,
)
from .escaping import unescaper_for
from .frame import Frame, Limits

__all__ = ["FrameParser"]

_COMMANDS: dict[str, Command] = {command.value: command for command in Command}

# The first content-length header line, searched in the raw head bytes.  A header
# name can only spell "content-length" literally (every escape yields \n, :, \\ or \r,
# none of which it contains), so the first textual match is the first such header,
# which is the one that counts (spec 1.2 "Repeated Header Entries").
_CONTENT_LENGTH = re.compile(rb"\ncontent-length:([^\n]*)\n").search

# Building Frames through the slot descriptors skips the frozen dataclass __init__
# (three object.__setattr__ calls); the object is identical.  The parser makes one
# Frame per received frame, so this is worth ~10% of parsing time.
_new = Frame.__new__
_set_command = Frame.command.__set__  # type: ignore[attr-defined,misc]
_set_headers = Frame.headers.__set__  # type: ignore[attr-defined,misc]
_set_body = Frame.body.__set__  # type: ignore[attr-defined,misc]

# Parser states: between frames / inside the head / inside the body.
_IDLE, _HEAD, _BODY = 0, 1, 2

_DEFAULT_LIMITS = Limits()


class FrameParser:
    """Incremental STOMP parser; see the module docstring for the call order."""

    __slots__ = (
        "_body_start",
        "_buf",
        "_command",
        "_headers",
        "_length",
        "_line_start",
        "_newlines",
        "_scan",
        "_state",
        "_unescape",
        "_version",
        "error",
        "heartbeats",
        "limits",
    )

    def __init__(self, limits: Limits = _DEFAULT_LIMITS, version: str = "1.2") -> None:
        self.limits = limits
        #: The failure that killed the parser, or None while it is healthy.
        self.error: RemoteProtocolError | None = None
        #: Number of heart-beat EOLs seen between frames.
        self.heartbeats = 0
        self._version = ""
        self._unescape: Callable[[str], str] | None = None
        self.version = version
        self._buf = bytearray()
        self._state = _IDLE
        # Saved positions are relative to the start of the buffered (partial) frame.
        self._scan = 0  # bytes of it already examined
        self._newlines = 0  # LFs seen in an incomplete head
        self._line_start = 0  # start of the incomplete head's last line
        self._command = Command.SEND  # head of a frame waiting for its body
        self._headers: tuple[tuple[str, str], ...] = ()
        self._length = -1  # its content-length, or -1 when the body ends at NUL
        self._body_start = 0

    @property
    def version(self) -> str:
        """STOMP version used to unescape headers (1.0 none, 1.1, 1.2)."""
        return self._version

    @version.setter
    def version(self, version: str) -> None:
        if version not in SUPPORTED_VERSIONS:
            raise LocalProtocolError(f"unsupported STOMP version {version!r}")
        self._version = version
        self._unescape = unescaper_for(version)

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Consume ``data``; return the frames it completed, in order.

        Never raises for bad input: frames completed before a failure are returned,
        the failure is stored in :attr:`error` and later calls return ``[]``.
        Incomplete input is kept and is never an error.

        One loop, one iteration per frame, with the common path inlined (this is the
        broker's hot path).  State saved in ``self`` is relative to ``keep``, the
        offset of the first unconsumed byte, where the next call's input starts.
        """
        frames: list[Frame] = []
        if self.error is not None or not data:
            return frames
        buf = self._buf
        if buf:
            buf += data
            work: bytes | bytearray = buf
        else:
            work = data if type(data) is bytes else bytes(data)
        try:
            end = len(work)
            pos = 0
            state = self._state
            limits = self.limits
            max_frame = limits.max_frame_size
            find = work.find
            if state == _HEAD:
                scan = self._scan
            elif state == _BODY:
                command = self._command
                headers = self._headers
                length = self._length
                body_start = self._body_start
                scan = self._scan
            while True:
                if state == _IDLE:
                    if pos == end:
                        self._state = _IDLE
                        keep = end
                        break
                    byte = work[pos]
                    if byte == 10 or byte == 13:
                        skipped = self._skip_heartbeats(work, pos, end)
                        if skipped < 0:  # a lone CR at the end: wait for its LF
                            self._state = _IDLE
                            keep = end - 1
                            break
                        if skipped != pos:
                            pos = skipped
                            continue
                        # A CR that starts no EOL: the command check rejects it below.
                    scan = pos
                start = pos
                if state != _BODY:
                    # The head ends at the first empty line: LF LF or LF CR LF.
                    # Look for LF LF first; an earlier LF CR LF can only exist if the head
                    # up to there holds a CR, which the decoded text shows for free.
                    resume = max(start, scan - 2)
                    head_end = find(b"\n\n", resume)
                    if head_end < 0:
                        head_end = find(b"\n\r\n", resume)
                        if head_end < 0:
                            self._check_partial_head(work, start, scan, end)
                            self._state = _HEAD
                            self._scan = end - start
                            keep = start
                            break
                        body_start = head_end + 3
                    else:
                        body_start = head_end + 2
                    if head_end - start > limits.max_header_length:
                        self._check_head_limits(work, start, head_end)
                    try:
                        text = work[start:head_end].decode()
                    except UnicodeDecodeError as exc:
                        raise MalformedFrame(
                            f"frame head is not valid UTF-8 ({exc.reason})"
                        ) from None
                    if "\r" in text:  # CRLF line ends (spec 1.2): rare, slower path
                        crlf = find(b"\n\r\n", resume, head_end)
                        if crlf >= 0:
                            head_end, body_start = crlf, crlf + 3
                            text = work[start:head_end].decode()
                        lines = [
                            line[:-1] if line[-1:] == "\r" else line for line in text.split("\n")
                        ]
                    else:
                        lines = text.split("\n")
                    command = _COMMANDS.get(lines[0])  # type: ignore[assignment]
                    if command is None:
                        raise UnknownCommand(f"unknown command {lines[0][:64]!r}")
                    del lines[0]
                    if len(lines) > limits.max_headers:
                        raise TooManyHeaders(
                            f"frame has {len(lines)} headers, the limit is {limits.max_headers}"
                        )
                    pairs: list[tuple[str, str]] = []
                    add = pairs.append
                    for line in lines:
                        # The name ends at the FIRST colon; values may hold more.
                        name, colon, value = line.partition(":")
                        if not colon:
                            raise MalformedFrame(f"header line {line[:64]!r} has no ':'")
                        add((name, value))
                    unescape = self._unescape
                    if "\\" in text and unescape is not None and command not in UNESCAPED_COMMANDS:
                        pairs = [(unescape(name), unescape(value)) for name, value in pairs]
                    headers = tuple(pairs)
                    match = _CONTENT_LENGTH(work, start, head_end + 1)
                    if match is None:
                        length = -1
                    else:
                        digits = match[1]
                        if not digits.isdigit():  # bytes.isdigit: ASCII digits only
                            digits = digits.rstrip(b"\r")
                            if not digits.isdigit():
                                raise MalformedFrame(
                                    f"content-length {match[1][:32]!r} is not a number"
                                )
                        length = int(digits)
                        if body_start + length - start > max_frame:
                            raise FrameTooLarge(
                                f"frame of {body_start + length - start} bytes exceeds the "
                                f"limit of {max_frame} bytes"
                            )
                    state = _BODY
                    scan = body_start
                # Body: exactly content-length octets then NUL, or up to the first NUL.
                if length >= 0:
                    body_end = body_start + length
                    if body_end >= end:
                        self._save_body(command, headers, length, body_start - start, 0)
                        keep = start
                        break
                    if work[body_end]:
                        raise MalformedFrame(
                            f"frame body of content-length {length} is not followed by NUL"
                        )
                else:
                    body_end = find(b"\x00", scan)
                    if body_end < 0:
                        if end - start > max_frame:
                            raise FrameTooLarge(
                                f"frame exceeds the limit of {max_frame} bytes without a NUL"
                            )
                        self._save_body(command, headers, -1, body_start - start, end - start)
                        keep = start
                        break
                    if body_end - start > max_frame:
                        raise FrameTooLarge(
                            f"frame of {body_end - start} bytes exceeds the limit of "
                            f"{max_frame} bytes"
                        )
                body = work[body_start:body_end]
                frame = _new(Frame)
                _set_command(frame, command)
                _set_headers(frame, headers)
                _set_body(frame, body if type(body) is bytes else bytes(body))
                frames.append(frame)
                pos = body_end + 1
                state = _IDLE
        except RemoteProtocolError as exc:
            self.error = exc
            self._buf = bytearray()
            return frames
        if work is buf:
            if keep:
                del buf[:keep]
        elif keep < len(work):
            buf += memoryview(work)[keep:]
        return frames

    def _skip_heartbeats(self, work: bytes | bytearray, pos: int, end: int) -> int:
        """Skip EOLs between frames, counting them; -1 if a lone CR ends the input."""
        count = 0
        while pos < end:
            byte = work[pos]
            if byte == 10:
                pos += 1
            elif byte == 13:
                if pos + 1 == end:
                    self.heartbeats += count
                    return -1
                if work[pos + 1] != 10:
                    break  # not an EOL: the command check will reject it
                pos += 2
            else:
                break
            count += 1
        self.heartbeats += count
        return pos

    def _save_body(
        self,
        command: Command,
        headers: tuple[tuple[str, str], ...],
        length: int,
        body_start: int,
        scan: int,
    ) -> None:
        self._state = _BODY
        self._command = command
        self._headers = headers
        self._length = length
        self._body_start = body_start
        self._scan = max(body_start, scan)

    def _check_partial_head(self, work: bytes | bytearray, start: int, scan: int, end: int) -> None:
        """Apply the limits to a head still missing its blank line (new bytes only)."""
        limits = self.limits
        if scan == start:  # first look at this frame
            self._newlines = 0
            self._line_start = 0
        if end - start > limits.max_frame_size:
            raise FrameTooLarge(
                f"frame exceeds the limit of {limits.max_frame_size} bytes before its headers ended"
            )
        newlines = self._newlines + work.count(b"\n", scan, end)
        self._newlines = newlines
        if newlines - 1 > limits.max_headers:
            raise TooManyHeaders(f"frame has more than {limits.max_headers} headers")
        last = work.rfind(b"\n", scan, end)
        if last >= 0:
            self._line_start = last + 1 - start
        # +1: a trailing CR may yet turn out to be half of a CRLF.
        if end - start - self._line_start > limits.max_header_length + 1:
            raise HeaderLineTooLong(
                f"header line exceeds the limit of {limits.max_header_length} bytes"
            )

    def _check_head_limits(self, work: bytes | bytearray, start: int, head_end: int) -> None:
        """Size checks for a complete head longer than one allowed line."""
        limits = self.limits
        if head_end - start > limits.max_frame_size:
            raise FrameTooLarge(f"frame exceeds the limit of {limits.max_frame_size} bytes")
        max_line = limits.max_header_length
        for line in work[start:head_end].split(b"\n"):
            if len(line) - line.endswith(b"\r") > max_line:
                raise HeaderLineTooLong(
                    f"header line of {len(line)} bytes exceeds the limit of {max_line} bytes"
                )
