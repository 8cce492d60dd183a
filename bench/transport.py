"""Transports for `StompConn`: picows WebSocket and plain TCP (asyncio Protocol).

Both are thin: bytes read go to `conn.feed`, a close goes to `conn.lost`. Each STOMP
frame the generator sends is one WebSocket message (as STOMP.js does) or one TCP
write. `open_stomp()` opens a transport, sends CONNECT and waits for CONNECTED.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.sources import bound_socket
from bench.wire import StompConn, connect_frame

_TEXT = WSMsgType.TEXT


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect: `url` is ws://host:port/path or tcp://host:port."""

    url: str
    login: str | None = None
    passcode: str | None = None
    vhost: str = "/"
    connect_headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_ws(self) -> bool:
        return self.url.startswith("ws")

    def with_auth(self, **headers: str) -> Endpoint:
        return Endpoint(self.url, None, None, self.vhost, {**self.connect_headers, **headers})


class _WsListener(WSListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.conn: StompConn | None = None
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        t = frame.msg_type
        if t is _TEXT or t is WSMsgType.BINARY or t is WSMsgType.CONTINUATION:
            conn = self.conn
            if conn is not None:
                conn.feed(frame.get_payload_as_bytes())
        elif t is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.conn is not None:
            self.conn.lost(None)


class _TcpProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.conn: StompConn | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is not None:
            conn.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.lost(exc)


LEAN_READ_BUFFER = 1024
"""picows' initial read buffer for a lean session (it grows when a frame needs more)."""


async def open_transport(url: str, source: str | None = None, lean: bool = False) -> StompConn:
    """A connected transport wrapped in a StompConn, before the STOMP CONNECT.

    `source`: bind the client socket to this loopback address first (bench.sources).
    `lean`: a session that will mostly sit idle (bench.scenarios.idle): picows with a
    1 KiB initial read buffer instead of 16 KiB and the event loop's own transport instead
    of aiofastnet's, about 12 KB of generator RSS per session instead of 31 KB.
    """
    if url.startswith("ws"):
        extra: dict[str, Any] = {}
        if source is not None:
            extra["socket_factory"] = lambda _url: bound_socket(source)
        if lean:
            extra["read_buffer_init_size"] = LEAN_READ_BUFFER
            extra["use_aiofastnet"] = False
        transport, listener = await ws_connect(
            _WsListener, url, extra_headers={"Sec-WebSocket-Protocol": "v12.stomp"},
            websocket_handshake_timeout=15, **extra,
        )
        send = transport.send

        def send_ws(data: bytes) -> None:
            send(_TEXT, data)

        def close_ws() -> None:
            transport.disconnect(graceful=False)

        conn = StompConn(send_ws, close_ws)
        listener.conn = conn
        if transport.is_disconnected:
            conn.lost(None)
        return conn
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    if source is None:
        tcp, proto = await loop.create_connection(_TcpProtocol, parts.hostname, parts.port)
    else:
        sock = bound_socket(source)
        try:
            await loop.sock_connect(sock, (parts.hostname, parts.port))
        except BaseException:
            sock.close()
            raise
        tcp, proto = await loop.create_connection(_TcpProtocol, sock=sock)
    conn = StompConn(tcp.write, tcp.abort)
    proto.conn = conn
    return conn


async def open_stomp(
    ep: Endpoint,
    heartbeat: tuple[int, int] = (0, 0),
    timeout: float = 15.0,
    source: str | None = None,
    lean: bool = False,
) -> StompConn:
    """Open a transport, CONNECT, wait for CONNECTED (ConnectionRefusedError on ERROR)."""
    conn = await open_transport(ep.url, source, lean)
    try:
        conn.send(connect_frame(ep.vhost, ep.login, ep.passcode, heartbeat, ep.connect_headers))
        await asyncio.wait_for(asyncio.shield(conn.connected), timeout)
    except BaseException:
        conn.close()
        raise
    return conn


async def open_many(
    ep: Endpoint | list[Endpoint],
    count: int,
    heartbeat: tuple[int, int] = (0, 0),
    concurrency: int = 100,
    progress: object | None = None,
) -> list[StompConn]:
    """`count` CONNECTed sessions, opened `concurrency` at a time; all or an exception.

    `ep` may be a list (one endpoint per session, e.g. one token per user).
    """
    sem = asyncio.Semaphore(concurrency)
    out: list[StompConn | None] = [None] * count

    async def one(i: int) -> None:
        target = ep[i] if isinstance(ep, list) else ep
        async with sem:
            for attempt in range(3):
                try:
                    out[i] = await open_stomp(target, heartbeat)
                    break
                except (TimeoutError, OSError):
                    if attempt == 2:
                        raise
                    await asyncio.sleep(0.5)
        if progress is not None:
            progress.add(1)  # type: ignore[attr-defined]

    tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        for c in out:
            if c is not None:
                c.close()
        raise
    return [c for c in out if c is not None]


def close_all(conns: list[StompConn]) -> None:
    for c in conns:
        if not c.is_closed:
            c.close()
