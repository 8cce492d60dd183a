"""The WebSocket fast path: websockets' connection with STOMP's common frames cut here.

Enabled by config `stomp.ws_fast_path` (default true); stompim.broker.websocket
serves the same STOMP over websockets' public API when it is off, or when the
installed websockets is not a version this module knows (it then logs a warning
once and stands aside).  Why it exists: websockets' public path costs a Future and a
queue hop per message and a write per frame; this path costs neither.

What it reads of websockets' internals, all pinned by tests/broker/test_ws_fastpath.py
so that an upgrade fails there, loudly, instead of misbehaving:

* `ServerConnection.data_received(data)` / `process_event(event)` /
  `acknowledge_pings(data)` / `connection_lost(exc)` and `resume_writing()`,
  overridden or called here;
* `conn.protocol.state` (websockets.protocol.State), `conn.protocol.reader.buffer`
  (bytes websockets holds unparsed), `conn.protocol.max_message_size`, `conn.request`
  and `conn.transport`;
* `websockets.frames.apply_mask` (the C speedup when built) and `Opcode`;
* `conn.recv_messages`, websockets' message Assembler (made in `connection_made`, fed
  by `process_event`, read by `recv`, closed by `connection_lost`): the fast path
  never queues a message there (its `process_event` feeds the Endpoint, nothing calls
  `recv`), so `connection_made` puts a stub in its place that only closes, about
  1.3 KB less per idle session (a deque block, the Assembler, its queue, two bound
  methods).

Incoming: `FastConnection.data_received` feeds every data frame's payload (text,
binary or continuation) straight into the broker's Endpoint, so a STOMP frame may be
split across or merged within WebSocket messages, and no per-message futures or
queues are involved.  Once the handshake is done and websockets holds no unparsed
bytes, `data_received` itself cuts the common frames (FIN set, text or binary,
masked, within max_size; `cut_frames`) and feeds their payloads in one call; at the
first frame that is anything else (ping, close, a fragment, a protocol error) it
hands that frame and everything after it to websockets, at a frame boundary, and
websockets' own parser (`process_event`) serves the connection from then on.  RFC
6455 section 5 is thus still enforced by websockets for every frame the fast path
does not take.  Text payloads are checked for UTF-8 (RFC 6455 section 8.1, which
websockets' protocol layer leaves to `recv`): `isascii()` in place for the common
ASCII frame, a decode otherwise; a frame that fails goes to websockets' path, where
`process_event` closes the connection with 1007 (a fragmented text message is
checked there, across its fragments, with an incremental decoder).

Outgoing: `FastLink.write` frames the data itself (server frames are unmasked; no
extension is negotiated) and writes one buffer per flush to the transport while
websockets' state is OPEN; websockets' own writes (pong, close) happen in the same
thread, in order.  A frame whose body is not valid UTF-8 goes out as a binary
message.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import struct
from collections.abc import Callable
from typing import Any

import websockets
from websockets import frames as ws_frames
from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode, Opcode
from websockets.protocol import State as WsState

from .link import Acceptor, Endpoint

__all__ = [
    "KNOWN_MAJOR_VERSION",
    "FastConnection",
    "FastLink",
    "cut_frames",
    "fast_path_usable",
    "serve_fast",
]

log = logging.getLogger(__name__)

KNOWN_MAJOR_VERSION = 17
"""The websockets major version whose internals this module was written against."""

# The C speedup when websockets has one (frames re-exports it; utils has the pure version).
apply_mask: Callable[[bytes | bytearray, bytes | bytearray], bytes] = ws_frames.apply_mask  # type: ignore[attr-defined]

_DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)
_TEXT_FIN, _BINARY_FIN = 0x81, 0x82
# Two-byte headers of unmasked server frames shorter than 126 bytes, by opcode byte.
_SHORT_HEADERS = {
    op: [bytes((op, n)) for n in range(126)] for op in (_TEXT_FIN, _BINARY_FIN)
}
_pack_16 = struct.Struct("!BBH").pack
_pack_64 = struct.Struct("!BBQ").pack
_warned = False


def fast_path_usable(version: str = websockets.version.version) -> bool:
    """Whether the installed websockets is one this module knows; else a warning
    (logged once) and False: the public API path serves instead."""
    global _warned
    major = version.split(".")[0]
    if major.isdigit() and int(major) == KNOWN_MAJOR_VERSION:
        return True
    if not _warned:
        _warned = True
        log.warning(
            "websockets %s is not a version the WebSocket fast path knows (%d.x): "
            "serving STOMP over websockets' public API instead", version, KNOWN_MAJOR_VERSION,
        )
    return False


def cut_frames(buf: bytes | bytearray, max_size: int | None) -> tuple[list[bytes], int, bool]:
    """Unmasked payloads of the whole common client frames at the start of `buf`
    (RFC 6455 section 5.2: FIN set, no RSV bits, text or binary, masked, at most
    `max_size` bytes), how many bytes they took, and whether the frame after them
    is one websockets must judge (True) rather than merely incomplete (False)."""
    end = len(buf)
    payloads: list[bytes] = []
    pos = 0
    while end - pos >= 2:
        op = buf[pos]
        second = buf[pos + 1]
        if (op != _TEXT_FIN and op != _BINARY_FIN) or second < 0x80:
            return payloads, pos, True    # control frame, fragment, unmasked, RSV bits
        length = second & 0x7F
        start = pos + 6
        if length == 126:
            if end - pos < 4:
                break
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            start = pos + 8
        elif length == 127:
            if end - pos < 10:
                break
            length = int.from_bytes(buf[pos + 2:pos + 10], "big")
            start = pos + 14
        if max_size is not None and length > max_size:
            return payloads, pos, True
        stop = start + length
        if stop > end:
            break
        payload = apply_mask(buf[start:stop], buf[start - 4:start])
        if op == _TEXT_FIN and not payload.isascii() and not _utf8(payload):
            return payloads, pos, True    # websockets' path closes it with 1007
        payloads.append(payload)
        pos = stop
    return payloads, pos, False


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _NoMessages:
    """Stands for websockets' message Assembler on the fast path, which never queues a
    message there (data frames go to the Endpoint); connection_lost closes it."""

    __slots__ = ()

    def close(self) -> None:
        pass


_NO_MESSAGES: Any = _NoMessages()


class FastConnection(ServerConnection):
    """A websockets connection whose data frames go to the broker's Endpoint."""

    stomp_token: str | None = None
    stomp_peer: str | None = None      # the client's address (set at the handshake)
    stomp_endpoint: Endpoint | None = None
    stomp_early: list[bytes] | None = None
    stomp_done: asyncio.Future[None] | None = None
    stomp_fast: bool | None = None     # None: not decided yet (handshake)
    stomp_rx: bytearray | None = None  # a partial frame on the fast path
    stomp_unseen = 0                   # bytes read before the endpoint was attached
    stomp_refused = False              # past the pre-auth budget: input is dropped
    stomp_utf8: codecs.IncrementalDecoder | None = None   # a fragmented text message

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.recv_messages = _NO_MESSAGES

    def data_received(self, data: bytes) -> None:
        fast = self.stomp_fast
        if fast is None:
            protocol = self.protocol
            if protocol.state is not WsState.OPEN:
                super().data_received(data)
                return
            # first bytes after the handshake: fast only if websockets holds none
            fast = self.stomp_fast = not protocol.reader.buffer
        if self.stomp_refused:
            return    # dropped unread (websockets closes after close_timeout)
        endpoint = self.stomp_endpoint
        if endpoint is None:
            self.stomp_unseen += len(data)
        elif not endpoint.charge_raw(len(data)):
            self._refused()
            return
        if not fast:
            super().data_received(data)
            self._after_websockets()
            return
        rx = self.stomp_rx
        if rx:
            rx += data
            buf: bytes | bytearray = rx
        else:
            buf = data
        payloads, pos, slow = cut_frames(buf, self.protocol.max_message_size)
        if slow:
            self.stomp_fast = False
            self.stomp_rx = None
        elif buf is rx:
            del rx[:pos]
        elif pos < len(buf):
            self.stomp_rx = bytearray(buf[pos:])
        if payloads:
            self._feed(payloads[0] if len(payloads) == 1 else b"".join(payloads))
        if slow:   # websockets takes over at this frame boundary, for good
            super().data_received(bytes(buf[pos:]))
            self._after_websockets()

    def _refused(self) -> None:
        """Past the pre-auth budget (the session sent ERROR and closes): hold nothing
        more of this connection, and read nothing more of it."""
        self.stomp_refused = True
        self.stomp_rx = None
        self.stomp_early = None

    def _after_websockets(self) -> None:
        """websockets failed or closed the connection (a protocol error, a Close
        frame): let the handler return so websockets closes the transport (within
        close_timeout) even if the peer never closes its side."""
        if self.protocol.state is WsState.CLOSING or self.protocol.state is WsState.CLOSED:
            done = self.stomp_done
            if done is not None and not done.done():
                done.set_result(None)

    def _feed(self, data: bytes) -> None:
        endpoint = self.stomp_endpoint
        if endpoint is None:              # before the handler attached the endpoint
            if self.stomp_early is None:
                self.stomp_early = []
            self.stomp_early.append(data)
        else:
            endpoint.receive(data)

    def process_event(self, event: Any) -> None:
        if self.request is None:          # the handshake request
            super().process_event(event)
            return
        opcode = event.opcode
        if opcode in _DATA:
            if self.protocol.state is not WsState.OPEN:
                return                    # failed (1007) earlier in this read
            data = bytes(event.data)
            if not self._valid_text(opcode, data, event.fin):
                self.protocol.fail(CloseCode.INVALID_DATA, "invalid UTF-8 in a text frame")
                self.send_data()
                self._after_websockets()
                return
            self._feed(data)
        elif opcode is Opcode.PONG:
            self.acknowledge_pings(bytes(event.data))

    def _valid_text(self, opcode: Opcode, data: bytes, fin: bool) -> bool:
        """RFC 6455 section 8.1: a text message must be UTF-8, judged over the whole
        message (a character may straddle two fragments)."""
        decoder = self.stomp_utf8
        if opcode is Opcode.TEXT:
            if fin:
                return data.isascii() or _utf8(data)
            decoder = self.stomp_utf8 = codecs.getincrementaldecoder("utf-8")()
        elif opcode is Opcode.BINARY or decoder is None:
            return True
        try:
            decoder.decode(data, fin)
        except UnicodeDecodeError:
            return False
        finally:
            if fin:
                self.stomp_utf8 = None
        return True

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.stomp_endpoint is not None:
            self.stomp_endpoint.writable()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.stomp_endpoint is not None:
            self.stomp_endpoint.lost()
        if self.stomp_done is not None and not self.stomp_done.done():
            self.stomp_done.set_result(None)


class FastLink:
    """The Link of a FastConnection: frames written straight to the transport."""

    __slots__ = ("conn",)

    def __init__(self, conn: FastConnection) -> None:
        self.conn = conn

    def write(self, chunks: list[tuple[bytes, bool]]) -> None:
        conn = self.conn
        if conn.protocol.state is not WsState.OPEN or conn.transport.is_closing():
            return
        parts = []
        for data, text in chunks:
            op = _TEXT_FIN if text else _BINARY_FIN
            n = len(data)
            if n < 126:
                parts.append(_SHORT_HEADERS[op][n])
            elif n < 65536:
                parts.append(_pack_16(op, 126, n))
            else:
                parts.append(_pack_64(op, 127, n))
            parts.append(data)
        conn.transport.write(b"".join(parts))

    def buffered(self) -> int:
        return self.conn.transport.get_write_buffer_size()

    def close(self) -> None:
        done = self.conn.stomp_done
        if done is not None and not done.done():
            done.set_result(None)

    def abort(self) -> None:
        self.close()
        self.conn.transport.abort()

    def pause_reading(self) -> None:
        if not self.conn.transport.is_closing():
            self.conn.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.conn.transport.is_closing():
            self.conn.transport.resume_reading()


async def serve_fast(conn: ServerConnection, acceptor: Acceptor) -> None:
    """The connection handler of the fast path: attach the Endpoint, feed what came
    early, then wait until the session or websockets ends the connection (returning
    lets websockets run the closing handshake, bounded by close_timeout)."""
    assert isinstance(conn, FastConnection)
    conn.stomp_done = asyncio.get_running_loop().create_future()
    endpoint = acceptor.accept(FastLink(conn), handshake_token=conn.stomp_token, websocket=True,
                               peer=conn.stomp_peer)
    conn.stomp_endpoint = endpoint
    if not endpoint.charge_raw(conn.stomp_unseen):
        conn._refused()
    early, conn.stomp_early = conn.stomp_early, None
    for data in early or ():
        endpoint.receive(data)
    if conn.protocol.state is not WsState.OPEN:
        endpoint.lost()
        return
    await conn.stomp_done
