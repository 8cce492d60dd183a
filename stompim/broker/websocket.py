"""STOMP over WebSocket with the `websockets` asyncio server.

Two paths serve the same STOMP, chosen per listener (`Broker.start_websocket`,
config `stomp.ws_fast_path`):

* the public path, here: websockets' public API only.  A `PublicConnection` (a
  `ServerConnection` given to `serve(create_connection=...)`) keeps what the asyncio
  Protocol contract hands every protocol (its transport, for the write-buffer size,
  and `resume_writing`); the handler reads messages with `recv(decode=False)` and
  feeds them to the broker's Endpoint; `PublicLink.write` sends each frame with
  `broadcast` (synchronous, no await).  Always available, whatever websockets version.
* the fast path (stompim.broker.ws_fastpath): websockets' internals read for speed;
  used when asked for and when the installed websockets is one it knows.

Both: only `path` is served (404 otherwise); subprotocol v12/v11/v10.stomp when
offered, none otherwise; `?token=` or `Authorization: Bearer` is kept for the
Authenticator; a handshake from a browser origin not allowed (`http.cors_origins`)
gets 403; a text message that is not valid UTF-8 closes with 1007.  Compression and
websockets' keepalive pings are off: STOMP heart-beats do that job, and deflate
state costs memory per idle connection.  A frame whose body is not valid UTF-8
goes out as a binary message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import cast
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State as WsState
from websockets.typing import Subprotocol

from stompim.forwarded import TrustedProxies

from .link import Acceptor, Endpoint
from .ws_fastpath import FastConnection, fast_path_usable, serve_fast

__all__ = [
    "SUBPROTOCOLS",
    "PublicConnection",
    "PublicLink",
    "forget_handshake",
    "origin_allowed",
    "start_websocket_server",
]

SUBPROTOCOLS = (Subprotocol("v12.stomp"), Subprotocol("v11.stomp"), Subprotocol("v10.stomp"))


class PublicConnection(ServerConnection):
    """websockets' server connection plus its transport and drain notification."""

    stomp_token: str | None = None
    stomp_peer: str | None = None
    stomp_endpoint: Endpoint | None = None
    stomp_transport: asyncio.Transport | None = None
    stomp_unseen = 0   # bytes read after the handshake, before the endpoint was attached
    stomp_refused = False   # past the pre-auth budget: input is dropped

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.stomp_transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """websockets queues whole messages (and holds a partial one) before `recv`
        hands them over: charge the raw reads to the pre-auth budget instead."""
        if self.stomp_refused:
            return   # past the pre-auth budget: dropped (websockets closes after close_timeout)
        endpoint = self.stomp_endpoint
        if endpoint is not None:
            if not endpoint.charge_raw(len(data)):
                self.stomp_refused = True
                return
        elif self.request is not None:
            self.stomp_unseen += len(data)
        super().data_received(data)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.stomp_endpoint is not None:
            self.stomp_endpoint.writable()


class PublicLink:
    """The Link of a PublicConnection.  `done` resolves when the broker closes it."""

    __slots__ = ("conn", "done", "reading")

    def __init__(self, conn: PublicConnection) -> None:
        self.conn = conn
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reading = asyncio.Event()
        self.reading.set()

    def write(self, chunks: list[tuple[bytes, bool]]) -> None:
        conn = self.conn
        if conn.state is not WsState.OPEN:
            return
        for data, text in chunks:
            broadcast([conn], data, text=text)

    def buffered(self) -> int:
        transport = self.conn.stomp_transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def close(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def abort(self) -> None:
        self.close()
        if self.conn.stomp_transport is not None:
            self.conn.stomp_transport.abort()

    def pause_reading(self) -> None:
        self.reading.clear()

    def resume_reading(self) -> None:
        self.reading.set()


async def _read(conn: PublicConnection, link: PublicLink, endpoint: Endpoint) -> None:
    """Feed every message until the peer closes; while the broker paused reading,
    websockets' bounded queue pushes back.  Text messages are decoded by websockets,
    which closes with 1007 on invalid UTF-8 (RFC 6455 section 8.1), then encoded back
    for the codec: the public path pays that copy, the fast path checks in place."""
    while True:
        await link.reading.wait()
        try:
            data = await conn.recv()
        except ConnectionClosed:
            return
        endpoint.receive(data.encode() if isinstance(data, str) else data)


async def serve_public(conn: ServerConnection, acceptor: Acceptor) -> None:
    """The connection handler of the public path."""
    assert isinstance(conn, PublicConnection)
    link = PublicLink(conn)
    endpoint = acceptor.accept(link, handshake_token=conn.stomp_token, websocket=True,
                               peer=conn.stomp_peer)
    conn.stomp_endpoint = endpoint
    if not endpoint.charge_raw(conn.stomp_unseen):
        conn.stomp_refused = True
    reader = asyncio.get_running_loop().create_task(_read(conn, link, endpoint))
    try:
        await asyncio.wait([reader, link.done], return_when=asyncio.FIRST_COMPLETED)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        endpoint.lost()
    # returning lets websockets run the closing handshake (close_timeout bound)


_NO_HEADERS = Headers()
"""What a session's handshake request keeps once the handshake is done (never written to)."""


def forget_handshake(conn: ServerConnection) -> None:
    """Drop the handshake's headers, kept by websockets for the connection's life:
    what the node needs of them (token, client address, subprotocol) was taken while
    the handshake ran, and an idle session would otherwise hold about 4 KB of header
    strings, lists and dicts (issue 17's idle sessions).  The request object stays
    (FastConnection tells the handshake from the frames after it by it), without
    headers; the response goes.  Called once, as the connection handler starts."""
    if conn.request is not None:
        conn.request.headers = _NO_HEADERS
    conn.response = None


def _select_subprotocol(
    conn: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    for name in SUBPROTOCOLS:
        if name in offered:
            return name
    return None


def remote_ip(conn: ServerConnection) -> str | None:
    """The client's IP address (websockets' remote_address), None when unknown."""
    try:
        address = conn.remote_address
    except Exception:   # a transport already gone has no address
        return None
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        return address[0]
    return None


def origin_allowed(request: Request, origins: frozenset[str] | None) -> bool:
    """Whether a handshake may open a session: no Origin (a client that is no browser
    sends none), an Origin in `origins` ("*": any; None checks nothing), or a page of
    the host the handshake is addressed to (the node's own web client, served on
    another port of the same host).  A browser always sends Origin, so a page of
    another site cannot open a session with a token it got hold of."""
    if origins is None or "*" in origins:
        return True
    origin = request.headers.get("Origin")
    if origin is None or origin in origins:
        return True
    host = request.headers.get("Host")
    try:
        origin_host = urlsplit(origin).hostname
        own_host = urlsplit(f"//{host}").hostname if host else None
    except ValueError:
        return False
    return origin_host is not None and origin_host == own_host


def handshake_token(request: Request) -> str | None:
    """The token of a handshake: `?token=`, else `Authorization: Bearer`."""
    query = parse_qs(urlsplit(request.path).query)
    if query.get("token"):
        return query["token"][0]
    auth = request.headers.get("Authorization")
    if auth is not None and auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


async def start_websocket_server(
    acceptor: Acceptor, host: str, port: int, path: str, *, max_frame_size: int,
    fast_path: bool, trusted_proxies: TrustedProxies | None = None, reuse_port: bool = False,
    origins: frozenset[str] | None = None,
) -> Server:
    """Listen on host:port for STOMP over WebSocket at `path`. The client's address
    handed to the broker is the peer's, or, behind a proxy of `trusted_proxies`, the
    one its X-Forwarded-For names (stompim.forwarded). `reuse_port`: SO_REUSEPORT, so
    several processes share the port.  A handshake whose Origin is not in `origins`
    gets 403 (see `origin_allowed`)."""
    proxies = trusted_proxies or TrustedProxies()
    fast = fast_path and fast_path_usable()
    connection_class = FastConnection if fast else PublicConnection
    serve_one: Callable[[ServerConnection, Acceptor], Awaitable[None]] = (
        serve_fast if fast else serve_public
    )

    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != path:
            return conn.respond(404, "Not Found\n")
        if not origin_allowed(request, origins):
            return conn.respond(403, "Forbidden: origin not allowed\n")
        assert isinstance(conn, FastConnection | PublicConnection)
        conn.stomp_token = handshake_token(request)
        conn.stomp_peer = proxies.client_ip(remote_ip(conn),
                                            request.headers.get("X-Forwarded-For"))
        return None

    def handler(conn: ServerConnection) -> Awaitable[None]:
        # the handler's coroutine itself, no wrapper frame: one fewer per session
        forget_handshake(conn)
        return serve_one(conn, acceptor)

    soft = acceptor.soft_pending_bytes
    return await serve(
        handler, host, port,
        subprotocols=list(SUBPROTOCOLS),
        select_subprotocol=_select_subprotocol,
        process_request=process_request,
        compression=None,
        ping_interval=None,
        close_timeout=2,
        max_size=2 * max_frame_size + 64 * 1024,
        max_queue=4,
        write_limit=(soft, soft // 4),
        create_connection=connection_class,
        reuse_port=reuse_port or None,
    )
