"""The general path of the STOMP parser: its state, its limits, and the state machine
that parses anything (CRLF heads, frames split anywhere, errors).

`GeneralParser` holds everything a parser keeps between feeds and parses from any
state; `stompim.frames.parser.FrameParser` adds the public `feed` with its fast path in
front (see that module's docstring for how the two paths divide the work and the call
order).  Nothing here is called from outside the codec.
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

__all__ = ["COMMANDS", "CONTENT_LENGTH", "GeneralParser"]

COMMANDS: dict[str, Command] = {command.value: command for command in Command}

# The first empty line of a head: an LF, then an optional CR, then LF.  Searched from
# the head's start (or where the last search of a partial head stopped, minus 2), the
# first match is where the head ends, whatever the body or the next frame holds.
_EMPTY_LINE = re.compile(rb"\n\r?\n").search

# A header line naming content-length, found in the raw head bytes.  A header name can
# only spell "content-length" literally (every escape yields \n, :, \\ or \r, none of
# which it contains), so the first textual match is the first such header, the one
# that counts (spec 1.2 "Repeated Header Entries").
CONTENT_LENGTH = b"\ncontent-length:"

# Building Frames through the slot descriptors skips the frozen dataclass __init__
# (three object.__setattr__ calls); the object is identical.
_new = Frame.__new__
_set_command = vars(Frame)["command"].__set__
_set_headers = vars(Frame)["headers"].__set__
_set_body = vars(Frame)["body"].__set__

# Parser states: between frames / inside the head / inside the body.
_IDLE, _HEAD, _BODY = 0, 1, 2

_DEFAULT_LIMITS = Limits()


def _command_of(line: bytes | bytearray) -> Command:
    """The command a command line (EOL removed) names, or the error for it."""
    try:
        text = line.decode()
    except UnicodeDecodeError as exc:
        raise MalformedFrame(f"frame head is not valid UTF-8 ({exc.reason})") from None
    command = COMMANDS.get(text)
    if command is None:
        raise UnknownCommand(f"unknown command {text[:64]!r}")
    return command


class GeneralParser:
    """A parser's state and its general path; `FrameParser` is the one to use."""

    __slots__ = (
        "_body_start",
        "_bounds",
        "_buf",
        "_command",
        "_headers",
        "_length",
        "_limits",
        "_line_start",
        "_newlines",
        "_scan",
        "_state",
        "_unescape",
        "_version",
        "error",
        "heartbeats",
    )

    def __init__(self, limits: Limits = _DEFAULT_LIMITS, version: str = "1.2") -> None:
        self._limits = limits
        self._bounds = (0, 0, 0)
        self.limits = limits
        #: The failure that killed the parser, or None while it is healthy.
        self.error: RemoteProtocolError | None = None
        #: Number of heart-beat EOLs seen between frames.
        self.heartbeats = 0
        self._version = ""
        self._unescape: Callable[[str], str] | None = None
        self.version = version
        # The partial frame held over from earlier feeds (or a lone CR between frames).
        self._buf = bytearray()
        self._state = _IDLE
        # Saved positions are relative to the start of the buffered (partial) frame.
        self._scan = 0  # bytes of it already searched
        self._newlines = 0  # LFs seen in an incomplete head
        self._line_start = 0  # start of the incomplete head's last line
        self._command = Command.SEND  # head of a frame waiting for its body
        self._headers: tuple[tuple[str, str], ...] = ()
        self._length = -1  # its content-length, or -1 when the body ends at NUL
        self._body_start = 0

    @property
    def limits(self) -> Limits:
        """The security limits applied as bytes arrive."""
        return self._limits

    @limits.setter
    def limits(self, limits: Limits) -> None:
        self._limits = limits
        # Unpacked once for the fast path: line length, frame size, lines in a head.
        self._bounds = (
            limits.max_header_length,
            limits.max_frame_size,
            limits.max_headers + 1,  # counting the command line
        )

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

    def discard(self) -> None:
        """Forget the partial frame held (its owner will parse nothing more, e.g. a
        connection that is closing): the memory goes back at once, not when the
        parser is dropped.  Input fed afterwards starts at a frame boundary."""
        self._buf = bytearray()
        self._state = _IDLE
        self._scan = 0
        self._newlines = 0
        self._line_start = 0

    def _finish_held(self, data: bytes, frames: list[Frame]) -> int:
        """Finish the buffered partial frame with ``data``; where ``data`` goes on.

        Returns the offset in ``data`` just past that frame (and the heart-beats after
        it), or -1 when it is still incomplete or the parser failed.  The buffer is
        empty afterwards unless -1 is returned.
        """
        held = len(self._buf)
        self._buf += data
        stop = self._general(self._buf, 0, frames, held)
        if stop < 0:
            return -1
        self._buf = bytearray()
        return stop - held

    def _general(
        self, work: bytes | bytearray, pos: int, frames: list[Frame], stop_after: int
    ) -> int:
        """Parse ``work`` from ``pos`` in any state, appending to ``frames``.

        ``work`` is either the buffer (``self._buf``, which then holds a partial
        frame from ``pos`` = 0) or the chunk given to :meth:`feed` (the buffer then is
        empty).  With ``stop_after`` >= 0, stop at the first frame boundary at or past
        that offset and return it; with -1 parse to the end.  What is not consumed
        stays in (or goes to) the buffer and -1 is returned; on a protocol error
        :attr:`error` is set and -1 returned.
        """
        try:
            keep, stop = self._parse(work, pos, frames, stop_after)
        except RemoteProtocolError as exc:
            self.error = exc
            self._buf = bytearray()
            return -1
        if stop >= 0:
            return stop
        buf = self._buf
        if work is buf:
            if keep:
                del buf[:keep]
        elif keep < len(work):
            buf += memoryview(work)[keep:]
        return -1

    def _parse(
        self, work: bytes | bytearray, pos: int, frames: list[Frame], stop_after: int
    ) -> tuple[int, int]:
        """The general state machine: ``(keep, stop)``, offsets in ``work``.

        ``keep`` is the first byte to hold for later; ``stop`` is the frame boundary at
        or after ``stop_after`` where parsing stopped early (-1 when it did not, or when
        ``stop_after`` is -1).  State saved in ``self`` is relative to ``keep``.
        """
        end = len(work)
        state = self._state
        limits = self.limits
        max_frame = limits.max_frame_size
        find = work.find
        is_bytes = type(work) is bytes
        scan = self._scan
        if state == _BODY:
            command = self._command
            headers = self._headers
            length = self._length
            body_start = self._body_start
        while True:
            if state == _IDLE:
                if 0 <= stop_after <= pos:
                    self._state = _IDLE
                    return pos, pos
                if pos == end:
                    self._state = _IDLE
                    return end, -1
                byte = work[pos]
                if byte == 10 or byte == 13:
                    skipped = self._skip_heartbeats(work, pos, end)
                    if skipped < 0:  # a lone CR at the end: wait for its LF
                        self._state = _IDLE
                        return end - 1, -1
                    if skipped != pos:
                        pos = skipped
                        continue
                    # A CR that starts no EOL: the command check rejects it below.
                scan = pos
            start = pos
            if state != _BODY:
                match = _EMPTY_LINE(work, max(start, scan - 2))
                if match is None:
                    self._check_partial_head(work, start, scan, end)
                    self._state = _HEAD
                    self._scan = end - start
                    return start, -1
                head_end, body_start = match.span()
                command, headers, length = self._parse_head(work, start, head_end)
                if length >= 0 and body_start + length - start > max_frame:
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
                    return start, -1
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
                    return start, -1
                if body_end - start > max_frame:
                    raise FrameTooLarge(
                        f"frame of {body_end - start} bytes exceeds the limit of {max_frame} bytes"
                    )
            frame = _new(Frame)
            _set_command(frame, command)
            _set_headers(frame, headers)
            # One copy of the body, also out of the bytearray buffer.
            _set_body(
                frame,
                work[body_start:body_end]
                if is_bytes
                else bytes(memoryview(work)[body_start:body_end]),
            )
            frames.append(frame)
            pos = body_end + 1
            state = _IDLE

    def _parse_head(
        self, work: bytes | bytearray, start: int, head_end: int
    ) -> tuple[Command, tuple[tuple[str, str], ...], int]:
        """Command, headers and content-length (-1: none) of the head ``work[start:head_end]``.

        ``head_end`` is the LF that starts the empty line.  Checks, in order: the
        sizes (only for a head longer than one allowed line), the command line, the
        number of headers, then each header line (UTF-8, ``:``, escapes) and the
        content-length value.
        """
        limits = self.limits
        if head_end - start > limits.max_header_length:
            self._check_head_limits(work, start, head_end)
        line_end = work.find(b"\n", start, head_end)
        if line_end < 0:
            line_end = head_end
        command_line = work[start:line_end]
        command = _command_of(command_line[:-1] if command_line[-1:] == b"\r" else command_line)
        if line_end == head_end:
            return command, (), -1
        try:
            text = bytes(work[line_end + 1 : head_end]).decode()
        except UnicodeDecodeError as exc:
            raise MalformedFrame(f"frame head is not valid UTF-8 ({exc.reason})") from None
        lines = text.split("\n")
        if len(lines) > limits.max_headers:
            raise TooManyHeaders(
                f"frame has {len(lines)} headers, the limit is {limits.max_headers}"
            )
        crlf = "\r" in text
        pairs = []
        for line in lines:
            if crlf and line[-1:] == "\r":
                line = line[:-1]
            # The name ends at the FIRST colon; values may hold more.
            name, colon, value = line.partition(":")
            if not colon:
                raise MalformedFrame(f"header line {line[:64]!r} has no ':'")
            pairs.append((name, value))
        unescape = self._unescape
        if "\\" in text and unescape is not None and command not in UNESCAPED_COMMANDS:
            pairs = [(unescape(name), unescape(value)) for name, value in pairs]
        found = work.find(CONTENT_LENGTH, line_end, head_end)
        if found < 0:
            return command, tuple(pairs), -1
        found += 16
        raw = work[found : work.find(b"\n", found, head_end + 1)]
        digits = raw[:-1] if raw[-1:] == b"\r" else raw
        if not digits.isdigit():  # bytes.isdigit: ASCII digits only
            raise MalformedFrame(f"content-length {bytes(raw[:32])!r} is not a number")
        # int() refuses strings of more than 4300 digits; no frame is 10**15 bytes.
        digits = digits.lstrip(b"0")
        if len(digits) > 15:
            raise FrameTooLarge(f"content-length of {len(digits)} digits exceeds any frame limit")
        return command, tuple(pairs), int(digits or b"0")

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
        """Apply the limits to a head still missing its empty line.

        Only the bytes from ``scan`` on are new; every line they complete is checked
        as a complete head's would be (length, count, and the command line names a
        command), and the unfinished last line must not already be too long.  So an
        error raised here is the error the whole frame would get, only earlier.
        """
        limits = self.limits
        if scan == start:  # first look at this frame
            self._newlines = 0
            self._line_start = 0
        if end - start > limits.max_frame_size:
            raise FrameTooLarge(
                f"frame exceeds the limit of {limits.max_frame_size} bytes before its headers ended"
            )
        max_line = limits.max_header_length
        newlines = self._newlines
        line_start = start + self._line_start
        find = work.find
        lf = find(b"\n", scan, end)
        while lf >= 0:
            size = lf - line_start
            if size and work[lf - 1] == 13:
                size -= 1
            if size > max_line:
                raise HeaderLineTooLong(
                    f"header line of {size} bytes exceeds the limit of {max_line} bytes"
                )
            if not newlines:
                _command_of(work[line_start : line_start + size])
            newlines += 1
            if newlines - 1 > limits.max_headers:
                raise TooManyHeaders(f"frame has more than {limits.max_headers} headers")
            line_start = lf + 1
            lf = find(b"\n", line_start, end)
        self._newlines = newlines
        self._line_start = line_start - start
        # +1: a trailing CR may yet turn out to be half of a CRLF.
        if end - line_start > max_line + 1:
            raise HeaderLineTooLong(f"header line exceeds the limit of {max_line} bytes")

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
