"""STOMP over WebSocket on the REST port (aiohttp), as Spring's `addEndpoint("/ws")` serves it.

Port 8081 (stompim.broker.websocket, websockets) stays the fast path; this adapter lets
a front end that talks to one origin (`ws://host:8080/ws`) reach the same broker: the
same Session, the same authentication (`?token=`, `Authorization: Bearer`, or the
CONNECT headers), heart-beats, limits and flow control.  Only the transport differs.

* The client's address (`peer`, for login limits) is `request.remote`: the app's
  forwarded middleware has put the client's there when a trusted proxy relayed it.
* Handshake: aiohttp's `WebSocketResponse` (subprotocol v12/v11/v10.stomp when
  offered, no compression, aiohttp answers pings; STOMP heart-beats do keepalive).
  Before it, the Origin is checked (`OriginCheck`): no Origin (a non-browser client),
  the page's own origin, or one of `http.cors_origins` pass; any other is 403.
* Incoming: every text or binary message goes to the broker's Endpoint as bytes; a
  STOMP frame may span messages.  While the broker paused reading, the reader stops
  taking messages and aiohttp's bounded reader pushes back on the socket.
* Outgoing: `HttpWsLink.write` frames each chunk as one unmasked server message
  (`ws_message`, RFC 6455 section 5.2; no extension was negotiated) and writes them
  to the request's transport in one call, synchronously: no task or Future per frame.
  aiohttp's own writes (pong, close) go to the same transport in the same thread, so
  order holds.  The transport's write buffer is the connection's pending bytes; once
  it passes the soft limit one task awaits aiohttp's drain (`request.writer.drain()`)
  and tells the Endpoint it is writable again.
* Close: the broker's `close` ends the handler, which sends a Close frame (1000) and
  waits for the client's (bounded by `CLOSE_TIMEOUT`); `abort` drops the socket.

Call order: `serve_websocket(request, acceptor, ...)` is the aiohttp handler's body
(stompim.broker.http_endpoints registers it); it returns once the connection ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from aiohttp import WSMsgType, hdrs, web

from .link import Acceptor, Endpoint

__all__ = [
    "CLOSE_TIMEOUT",
    "SUBPROTOCOL_NAMES",
    "HttpWsLink",
    "OriginCheck",
    "handshake_token",
    "serve_websocket",
    "ws_message",
]

SUBPROTOCOL_NAMES = ("v12.stomp", "v11.stomp", "v10.stomp")
CLOSE_TIMEOUT = 2.0
"""Seconds a closing handshake waits for the client's Close frame."""

_TEXT_FIN, _BINARY_FIN = 0x81, 0x82
_pack_16 = struct.Struct("!BBH").pack
_pack_64 = struct.Struct("!BBQ").pack


def ws_message(data: bytes, text: bool) -> bytes:
    """One unmasked, unfragmented server message (RFC 6455 section 5.2)."""
    op = _TEXT_FIN if text else _BINARY_FIN
    n = len(data)
    if n < 126:
        return bytes((op, n)) + data
    if n < 65536:
        return _pack_16(op, 126, n) + data
    return _pack_64(op, 127, n) + data


class OriginCheck:
    """Which browser pages may open the endpoint: Spring's default (the same origin)
    plus `http.cors_origins` ("*": any).  A request without Origin is not a browser's
    cross-site request and passes (stomp.py, Node clients)."""

    __slots__ = ("any", "origins")

    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = frozenset(origins)
        self.any = "*" in self.origins

    def allows(self, request: web.BaseRequest) -> bool:
        origin = request.headers.get("Origin")
        if origin is None or self.any or origin in self.origins:
            return True
        try:
            return urlsplit(origin).netloc.lower() == request.host.lower()
        except ValueError:
            return False

    def refuse(self) -> web.Response:
        return web.Response(status=403, text="origin not allowed\n")


def handshake_token(request: web.BaseRequest) -> str | None:
    """The token of a handshake: `?token=`, else `Authorization: Bearer`."""
    token = request.query.get("token")
    if token:
        return token
    auth = request.headers.get("Authorization")
    if auth is not None and auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


class HttpWsLink:
    """The broker's Link over an aiohttp WebSocket: each chunk one message.  `done`
    resolves when the broker closes the link.  SockJS's websocket transport
    (stompim.broker.http_sockjs.WsReceiver) reuses it for its writing, draining and
    closing, with its own framing."""

    __slots__ = ("done", "drainer", "endpoint", "reading", "request", "soft", "transport")

    def __init__(self, request: web.Request, soft_pending: int) -> None:
        transport = request.transport
        assert transport is not None
        self.request = request
        self.transport = transport
        self.soft = soft_pending
        transport.set_write_buffer_limits(high=soft_pending, low=soft_pending // 4)
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reading = asyncio.Event()
        self.reading.set()
        self.endpoint: Endpoint | None = None
        self.drainer: asyncio.Task[None] | None = None

    def write(self, chunks: list[tuple[bytes, bool]]) -> None:
        if self.done.done() or self.transport.is_closing():
            return
        if len(chunks) == 1:
            data, text = chunks[0]
            self.write_bytes(ws_message(data, text))
        else:
            self.write_bytes(b"".join([ws_message(data, text) for data, text in chunks]))

    def write_bytes(self, data: bytes) -> None:
        transport = self.transport
        transport.write(data)
        if self.drainer is None and transport.get_write_buffer_size() > self.soft:
            self.drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Wait until aiohttp's transport drained below its low-water mark, then tell
        the Endpoint (the broker resumes throttled publishers, forgets congestion)."""
        try:
            await self.request.writer.drain()
        except (ConnectionError, RuntimeError):
            return
        finally:
            self.drainer = None
        if self.endpoint is not None and not self.done.done():
            self.endpoint.writable()

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size()

    def close(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def abort(self) -> None:
        self.close()
        self.transport.abort()

    def pause_reading(self) -> None:
        self.reading.clear()

    def resume_reading(self) -> None:
        self.reading.set()

    def stop(self) -> None:
        if self.drainer is not None:
            self.drainer.cancel()


async def read_messages(
    ws: web.WebSocketResponse, reading: asyncio.Event, feed: Callable[[bytes], None]
) -> None:
    """Hand every text or binary message to `feed` until the peer closes; wait while
    `reading` is clear."""
    while True:
        await reading.wait()
        msg = await ws.receive()
        if msg.type is WSMsgType.TEXT:
            feed(msg.data.encode("utf-8"))
        elif msg.type is WSMsgType.BINARY:
            feed(msg.data)
        else:   # CLOSE, CLOSING, CLOSED, ERROR (a protocol error, a message too big)
            return


async def run_until_done(
    ws: web.WebSocketResponse, link: HttpWsLink, feed: Callable[[bytes], None]
) -> None:
    """Read until the peer closes or the broker closes the link; then the closing
    handshake (bounded)."""
    reader = asyncio.get_running_loop().create_task(read_messages(ws, link.reading, feed))
    try:
        await asyncio.wait([reader, link.done], return_when=asyncio.FIRST_COMPLETED)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        link.close()
        link.stop()
    if not ws.closed and not link.transport.is_closing():
        with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
            await ws.close()


def websocket_response(request: web.Request, max_message_size: int) -> web.WebSocketResponse:
    """The handshake's response: the newest STOMP subprotocol the client offers (as
    port 8081 chooses; aiohttp alone would take the client's first), none if none."""
    offered = {
        p.strip() for p in request.headers.get(hdrs.SEC_WEBSOCKET_PROTOCOL, "").split(",")
    }
    chosen = tuple(p for p in SUBPROTOCOL_NAMES if p in offered)[:1]
    return web.WebSocketResponse(
        protocols=chosen, autoping=True, heartbeat=None, compress=False,
        max_msg_size=max_message_size, timeout=CLOSE_TIMEOUT,
    )


async def serve_websocket(
    request: web.Request, acceptor: Acceptor, *, max_frame_size: int
) -> web.StreamResponse:
    """STOMP over the WebSocket of `request` (its Origin already checked)."""
    ws = websocket_response(request, 2 * max_frame_size + 64 * 1024)
    if not ws.can_prepare(request).ok:
        return web.Response(status=400, text='Can "Upgrade" only to "WebSocket".\n')
    await ws.prepare(request)
    link = HttpWsLink(request, acceptor.soft_pending_bytes)
    endpoint = link.endpoint = acceptor.accept(
        link, handshake_token=handshake_token(request), websocket=True, peer=request.remote
    )
    try:
        await run_until_done(ws, link, endpoint.receive)
    finally:
        endpoint.lost()
    return ws
