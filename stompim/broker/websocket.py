"""STOMP over WebSocket with the `websockets` asyncio server.

Incoming: a `ServerConnection` subclass feeds every data frame's payload (text,
binary or continuation) straight into the session from `process_event`, so a
STOMP frame may be split across or merged within WebSocket messages, and no
per-message futures or queues are involved.

Outgoing: `WsLink.write` calls the sans-I/O `protocol.send_text/send_binary` and
`connection.send_data()` (the same non-awaiting path as websockets' own
`broadcast`); the write buffer size of the transport is the pending byte count.
A frame whose body is not valid UTF-8 goes out as a binary message.

Handshake: only `path` is served (404 otherwise); subprotocol v12/v11/v10.stomp
when offered, none otherwise; `?token=` or `Authorization: Bearer` is kept for
the Authenticator.  Compression and websockets' keepalive pings are off: STOMP
heart-beats do that job, and deflate state costs memory per idle connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.frames import Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State as WsState
from websockets.typing import Subprotocol

if TYPE_CHECKING:
    from .broker import Broker
    from .session import Session

__all__ = ["SUBPROTOCOLS", "StompWsConnection", "WsLink", "start_websocket_server"]

SUBPROTOCOLS = (Subprotocol("v12.stomp"), Subprotocol("v11.stomp"), Subprotocol("v10.stomp"))
_DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


class StompWsConnection(ServerConnection):
    """A websockets connection whose data frames go to a STOMP session."""

    stomp_session: Session | None = None
    stomp_token: str | None = None
    stomp_early: list[bytes] | None = None
    stomp_done: asyncio.Future[None] | None = None

    def process_event(self, event: Any) -> None:
        if self.request is None:          # the handshake request
            super().process_event(event)
            return
        if event.opcode in _DATA:
            session = self.stomp_session
            if session is None:           # before the handler attached the session
                if self.stomp_early is None:
                    self.stomp_early = []
                self.stomp_early.append(bytes(event.data))
            else:
                session.feed(bytes(event.data))
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
        protocol = conn.protocol
        if protocol.state is not WsState.OPEN:
            return
        for data, text in chunks:
            if text:
                protocol.send_text(data)
            else:
                protocol.send_binary(data)
        conn.send_data()

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
