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
input, whole and split at every byte.  This module holds the fast path and the public
calls; the state and the general path are stompim.frames.general's `GeneralParser`.

An owner that takes some whole frames from the bytes itself (the broker's SEND fast
path, stompim.broker.send_fastpath) calls :meth:`~FrameParser.feed_held` first, which
finishes only the frame held over and says where the next frame begins, and hands
:meth:`~FrameParser.feed` what it does not take, from a frame boundary.

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

from .commands import UNESCAPED_COMMANDS, Command
from .errors import MalformedFrame
from .frame import Frame
from .general import COMMANDS, CONTENT_LENGTH, GeneralParser

__all__ = ["FrameParser"]


class _Blank:
    """Frame's slots without Frame's frozenness, for the fast path.

    It fills one with three plain attribute stores, then turns it into a Frame by
    assigning ``__class__``, which CPython allows between classes of identical layout
    (about 100 ns less per frame than the slot setters the general path uses).  The result is an
    ordinary Frame; tests/frames/test_parser.py checks that the layouts stay identical.
    """

    __slots__ = Frame.__slots__
    command: Command
    headers: tuple[tuple[str, str], ...]
    body: bytes


class FrameParser(GeneralParser):
    """Incremental STOMP parser; see the module docstring for the call order."""

    __slots__ = ()

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
            command = COMMANDS.get(lines[0])
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
                found = find(CONTENT_LENGTH, pos, head_end)
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

    def feed_held(self, data: bytes) -> tuple[list[Frame], int]:
        """Finish only the frame held over from earlier feeds, for an owner that takes
        the whole frames of ``data`` itself (stompim.broker.send_fastpath) and gives
        the parser what it does not take (:meth:`feed`).

        Returns the frames completed (at most one) and the offset in ``data`` where
        the next frame (or heart-beat) begins: 0 when nothing was held, -1 when all of
        ``data`` was taken (the held frame is still incomplete) or the parser failed
        (:attr:`error`, as after :meth:`feed`).  A lone CR held between frames counts
        as held.  At an offset >= 0 the parser holds nothing; an owner that skips
        heart-beat EOLs itself adds them to :attr:`heartbeats`.
        """
        frames: list[Frame] = []
        if self.error is not None or not data:
            return frames, -1
        if not self._buf:
            return frames, 0
        return frames, self._finish_held(data, frames)
