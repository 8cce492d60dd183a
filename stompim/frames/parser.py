"""Incremental STOMP frame parser (sans-I/O): bytes in, frames out.

Call order: create one :class:`FrameParser` per connection; call :meth:`~FrameParser.feed`
with every chunk read from the transport, in order; handle the frames it returns; after
each call check :attr:`~FrameParser.error`: once set, reply with an ERROR frame carrying
``error.message`` and close (the parser is dead and ignores further input).  Set
:attr:`~FrameParser.version` as soon as CONNECT negotiation has picked one; it governs
header unescaping of the frames parsed after that.

Two paths, one result.  :meth:`~FrameParser.feed` first finishes a frame held over from
the previous chunk (general path), then runs the *fast path* over the frames that are
whole in the chunk and ordinary: LF line ends, a known command, every limit kept,
a well-formed head.  The fast path never reports an error: at the first frame it is not
sure of it stops, before touching any state, and the *general path* parses the rest of
the chunk from that frame's first byte.  The general path handles everything (CRLF,
partial frames, errors).  So the fast path can only differ from the general one by
being faster; tests/frames/test_properties.py checks that on random valid and invalid
input, whole and split at every byte.

How it stays fast and bounded:

* Delimiters are found with ``bytes.find`` and one compiled regex (C searches), never
  a Python loop per byte.  A partial head or body is searched from where the previous
  feed stopped, so a frame arriving one byte at a time is scanned in O(n) overall.
* The head ends at the first empty line, whose EOL may be LF or CRLF, and so may the
  EOL of the line before it (``\\n\\n`` or ``\\n\\r\\n``, found together by one regex
  search that stops at the first match: never in the body, never in the next frame).
* The head (command + headers) is decoded from UTF-8 once and split once; unescaping
  runs only when the head contains a backslash.  One copy of each body.
* Limits are checked on the bytes already held, before the frame is complete: a head
  is checked line by line as its lines arrive (length, count, and the command as soon
  as its line ends), a frame without NUL fails as soon as it passes
  ``max_frame_size``, and a ``content-length`` that is too large fails before its
  body is read.  What stays buffered between calls is at most one partial frame, so
  at most ``max_frame_size`` bytes plus a lone trailing CR.

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

# The first empty line of a head: an LF, then an optional CR, then LF.  Searched from
# the head's start (or where the last search of a partial head stopped, minus 2), the
# first match is where the head ends, whatever the body or the next frame holds.
_EMPTY_LINE = re.compile(rb"\n\r?\n").search

# A header line naming content-length, found in the raw head bytes.  A header name can
# only spell "content-length" literally (every escape yields \n, :, \\ or \r, none of
# which it contains), so the first textual match is the first such header, the one
# that counts (spec 1.2 "Repeated Header Entries").
_CONTENT_LENGTH = b"\ncontent-length:"

# Building Frames through the slot descriptors skips the frozen dataclass __init__
# (three object.__setattr__ calls); the object is identical.
_new = Frame.__new__
_set_command = vars(Frame)["command"].__set__
_set_headers = vars(Frame)["headers"].__set__
_set_body = vars(Frame)["body"].__set__


class _Blank:
    """Frame's slots without Frame's frozenness, for the fast path.

    It fills one with three plain attribute stores, then turns it into a Frame by
    assigning ``__class__``, which CPython allows between classes of identical layout
    (about 100 ns less per frame than the slot setters above).  The result is an
    ordinary Frame; tests/frames/test_parser.py checks that the layouts stay identical.
    """

    __slots__ = Frame.__slots__
    command: Command
    headers: tuple[tuple[str, str], ...]
    body: bytes


# Parser states: between frames / inside the head / inside the body.
_IDLE, _HEAD, _BODY = 0, 1, 2

_DEFAULT_LIMITS = Limits()


def _command_of(line: bytes | bytearray) -> Command:
    """The command a command line (EOL removed) names, or the error for it."""
    try:
        text = line.decode()
    except UnicodeDecodeError as exc:
        raise MalformedFrame(f"frame head is not valid UTF-8 ({exc.reason})") from None
    command = _COMMANDS.get(text)
    if command is None:
        raise UnknownCommand(f"unknown command {text[:64]!r}")
    return command


class FrameParser:
    """Incremental STOMP parser; see the module docstring for the call order."""

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

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Consume ``data``; return the frames it completed, in order.

        Never raises for bad input: frames completed before a failure are returned,
        the failure is stored in :attr:`error` and later calls return ``[]``.
        Incomplete input is kept and is never an error.

        Order of work: the frame held over from the previous call is finished first
        (:meth:`_general`, stopping right after it), then the fast loop below takes
        the whole, ordinary frames, and at the first frame it is not sure of hands
        the rest of ``data`` to :meth:`_general`.
        """
        frames: list[Frame] = []
        if self.error is not None or not data:
            return frames
        work = data if type(data) is bytes else bytes(data)
        pos = 0
        if self._buf:
            pos = self._finish_held(work, frames)
            if pos < 0:
                return frames
        # The fast path, inlined (this is the broker's hot path).  Every "break" leaves
        # ``pos`` at the first byte of a frame (or of heart-beats) it did not take.
        find = work.find
        end = len(work)
        max_line, max_frame, max_lines = self._bounds
        while pos != end:
            # No CR in the head (checked below), so LF LF is its first empty line.
            head_end = find(b"\n\n", pos)
            if not 0 <= head_end - pos <= max_line:  # no empty line yet, or a long head
                break
            try:
                text = work[pos:head_end].decode()
            except UnicodeDecodeError:
                break
            if "\r" in text:  # CRLF line ends, or a CR the general path must judge
                break
            lines = text.split("\n")
            command = _COMMANDS.get(lines[0])
            if command is None:
                if lines[0] or work[pos] != 10:
                    break
                pos = self._skip_heartbeats(work, pos, end)  # EOLs between frames
                if pos < 0:
                    pos = end - 1  # a lone CR at the end (after LFs)
                    break
                continue
            if len(lines) > max_lines:
                break
            pairs = []
            for line in lines[1:]:
                # The name ends at the FIRST colon; values may hold more.
                name, colon, value = line.partition(":")
                if not colon:
                    break
                pairs.append((name, value))
            else:
                if "\\" in text and command not in UNESCAPED_COMMANDS:
                    unescape = self._unescape
                    if unescape is not None:
                        try:
                            pairs = [(unescape(name), unescape(value)) for name, value in pairs]
                        except MalformedFrame:
                            break
                found = find(_CONTENT_LENGTH, pos, head_end)
                if found < 0:
                    body_end = find(b"\x00", head_end)
                    if body_end < 0:
                        break
                else:
                    found += 16
                    digits = work[found : find(b"\n", found, head_end + 1)]
                    # bytes.isdigit: ASCII digits only; more than 15 is the general
                    # path's business (too large, or leading zeros).
                    if not digits.isdigit() or len(digits) > 15:
                        break
                    body_end = head_end + 2 + int(digits)
                    if body_end >= end or work[body_end]:
                        break
                if body_end - pos > max_frame:
                    break
                frame = _Blank()
                frame.command = command
                frame.headers = tuple(pairs)
                frame.body = work[head_end + 2 : body_end]
                frame.__class__ = Frame  # type: ignore[assignment]
                frames.append(frame)  # type: ignore[arg-type]
                pos = body_end + 1
                continue
            break  # a header line without ':'
        if pos != end:
            self._general(work, pos, frames, -1)
        return frames

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
        found = work.find(_CONTENT_LENGTH, line_end, head_end)
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
