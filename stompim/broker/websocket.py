"""STOMP over WebSocket with the `websockets` asyncio server.

Incoming: a `ServerConnection` subclass feeds every data frame's payload (text,
binary or continuation) straight into the session, so a STOMP frame may be split
across or merged within WebSocket messages, and no per-message futures or queues
are involved.  Hot path: once the handshake is done and websockets holds no
unparsed bytes, `data_received` itself cuts the common frames (FIN set, text or
binary, masked, within max_size; `cut_frames`) and feeds their payloads in one
call; at the first frame that is anything else (ping, close, a fragment, a
protocol error) it hands that frame and everything after it to websockets, at a
frame boundary, and websockets' own parser (`process_event`) serves the
connection from then on.  RFC 6455 section 5 is thus still enforced by websockets
for every frame the fast path does not take.  Text payloads are not checked for
UTF-8 here, as websockets' protocol layer does not check them either: the STOMP
codec judges the header text, the body is bytes.

Outgoing: `WsLink.write` frames the data itself (server frames are unmasked; no
extension is negotiated) and writes one buffer per flush to the transport while
websockets' state is OPEN; websockets' own writes (pong, close) happen in the
same thread, in order.  The write buffer size of the transport is the pending
byte count.  A frame whose body is not valid UTF-8 goes out as a binary message.

Handshake: only `path` is served (404 otherwise); subprotocol v12/v11/v10.stomp
when offered, none otherwise; `?token=` or `Authorization: Bearer` is kept for
the Authenticator.  Compression and websockets' keepalive pings are off: STOMP
heart-beats do that job, and deflate state costs memory per idle connection.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from websockets import frames as ws_frames
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.frames import Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State as WsState
from websockets.typing import Subprotocol

from stompim.logs import CURRENT_SESSION

# The C speedup when websockets has one (frames re-exports it; utils has the pure version).
apply_mask: Callable[[bytes | bytearray, bytes | bytearray], bytes] = ws_frames.apply_mask  # type: ignore[attr-defined]

if TYPE_CHECKING:
    from .broker import Broker
    from .session import Session

__all__ = ["SUBPROTOCOLS", "StompWsConnection", "WsLink", "cut_frames", "start_websocket_server"]

SUBPROTOCOLS = (Subprotocol("v12.stomp"), Subprotocol("v11.stomp"), Subprotocol("v10.stomp"))
_DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)
_TEXT_FIN, _BINARY_FIN = 0x81, 0x82
# Two-byte headers of unmasked server frames shorter than 126 bytes, by opcode byte.
_SHORT_HEADERS = {
    op: [bytes((op, n)) for n in range(126)] for op in (_TEXT_FIN, _BINARY_FIN)
}
_pack_16 = struct.Struct("!BBH").pack
_pack_64 = struct.Struct("!BBQ").pack


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
        payloads.append(apply_mask(buf[start:stop], buf[start - 4:start]))
        pos = stop
    return payloads, pos, False


class StompWsConnection(ServerConnection):
    """A websockets connection whose data frames go to a STOMP session."""

    stomp_session: Session | None = None
    stomp_token: str | None = None
    stomp_early: list[bytes] | None = None
    stomp_done: asyncio.Future[None] | None = None
    stomp_fast: bool | None = None     # None: not decided yet (handshake)
    stomp_rx: bytearray | None = None  # a partial frame on the fast path

    def data_received(self, data: bytes) -> None:
        fast = self.stomp_fast
        if fast is None:
            protocol = self.protocol
            if protocol.state is not WsState.OPEN:
                super().data_received(data)
                return
            # first bytes after the handshake: fast only if websockets holds none
            fast = self.stomp_fast = not protocol.reader.buffer
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

    def _after_websockets(self) -> None:
        """websockets failed or closed the connection (a protocol error, a Close
        frame): let the handler return so websockets closes the transport (within
        close_timeout) even if the peer never closes its side."""
        if self.protocol.state is WsState.CLOSING or self.protocol.state is WsState.CLOSED:
            done = self.stomp_done
            if done is not None and not done.done():
                done.set_result(None)

    def _feed(self, data: bytes) -> None:
        session = self.stomp_session
        if session is None:               # before the handler attached the session
            if self.stomp_early is None:
                self.stomp_early = []
            self.stomp_early.append(data)
        else:
            scope = CURRENT_SESSION.set(session)  # log lines name this session
            try:
                session.feed(data)
            finally:
                CURRENT_SESSION.reset(scope)

    def process_event(self, event: Any) -> None:
        if self.request is None:          # the handshake request
            super().process_event(event)
            return
        if event.opcode in _DATA:
            self._feed(bytes(event.data))
        elif event.opcode is Opcode.PONG:
            self.acknowledge_pings(bytes(event.data))

    def resume_writing(self) -> None:
        super().resume_writing()
        session = self.stomp_session
        if session is not None and session.broker.congested:
            session.broker.relieve()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.stomp_session is not None:
            self.stomp_session.on_lost()
        if self.stomp_done is not None and not self.stomp_done.done():
            self.stomp_done.set_result(None)


class WsLink:
    __slots__ = ("conn",)

    def __init__(self, conn: StompWsConnection) -> None:
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


def _select_subprotocol(
    conn: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    for name in SUBPROTOCOLS:
        if name in offered:
            return name
    return None


def _handshake_token(request: Request) -> str | None:
    query = parse_qs(urlsplit(request.path).query)
    if query.get("token"):
        return query["token"][0]
    auth = request.headers.get("Authorization")
    if auth is not None and auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


async def start_websocket_server(broker: Broker, host: str, port: int, path: str) -> Server:
    config = broker.config

    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != path:
            return conn.respond(404, "Not Found\n")
        assert isinstance(conn, StompWsConnection)
        conn.stomp_token = _handshake_token(request)
        return None

    async def handler(conn: ServerConnection) -> None:
        assert isinstance(conn, StompWsConnection)
        conn.stomp_done = asyncio.get_running_loop().create_future()
        session = broker.open_session(
            WsLink(conn), handshake_token=conn.stomp_token, websocket=True
        )
        conn.stomp_session = session
        early, conn.stomp_early = conn.stomp_early, None
        CURRENT_SESSION.set(session)  # this task serves this session only
        for data in early or ():
            session.feed(data)
        if conn.protocol.state is not WsState.OPEN:
            session.on_lost()
            return
        await conn.stomp_done
        # returning lets websockets run the closing handshake (close_timeout bound)

    max_size = 2 * config.max_frame_size + 64 * 1024
    return await serve(
        handler, host, port,
        subprotocols=list(SUBPROTOCOLS),
        select_subprotocol=_select_subprotocol,
        process_request=process_request,
        compression=None,
        ping_interval=None,
        close_timeout=2,
        max_size=max_size,
        max_queue=4,
        write_limit=(broker.soft_pending_bytes, broker.soft_pending_bytes // 4),
        create_connection=StompWsConnection,
    )
