"""SockJS on the REST port (aiohttp): the sessions and their receivers.

stompim.broker.sockjs holds the protocol (frames, one session's queue and clocks,
sans-I/O); this module ties each SockJS session to a STOMP connection of the broker
and to whichever HTTP request or WebSocket currently receives for it.  The routes
that call it are in stompim.broker.http_endpoints.

* `SockJsLink` is the broker's Link of one SockJS session: `write` queues the STOMP
  frames as SockJS messages (STOMP over SockJS is text: a body that is not UTF-8
  arrives with replacement characters, as with Spring) and wakes the receiver;
  `buffered` is the queue plus the receiver's transport buffer, so the broker's
  pending-bytes limits hold for a client that stopped polling; `close` queues the
  close frame and ends the STOMP connection.
* A receiver is what takes the frames: `WsReceiver` (the websocket transport) writes
  them at once; `RequestReceiver` (xhr, xhr_streaming, eventsource) is woken and its
  handler writes them.
* `SockJsSessions` is the registry: sessions by id, one periodic sweep (heartbeats,
  receivers whose client left, sessions without a receiver for `disconnect_delay`).

Call order: `SockJsSessions(acceptor, options)`; `open` / `get` from the route
handlers; `close()` at application cleanup (after the broker closed its sessions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiohttp import web

from .http_ws import HttpWsLink, ws_message
from .link import Acceptor, Endpoint
from .sockjs import SockJsSession

__all__ = ["RequestReceiver", "SockJsLink", "SockJsOptions", "SockJsSessions", "WsReceiver"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SockJsOptions:
    heartbeat: float = 25.0
    """Seconds without a frame after which a receiver gets ``h``."""
    disconnect_delay: float = 5.0
    """Seconds a session lives without a receiver."""
    stream_bytes: int = 128 * 1024
    """Bytes one xhr_streaming / eventsource response carries before it ends (the
    client opens the next one; a browser keeps a streamed response in memory)."""
    max_queued_bytes: int = 4 * 1024 * 1024
    """Messages one session may queue for its client (stomp.max_pending_bytes)."""
    max_message_size: int = 2 * 1024 * 1024
    """Bytes of one message from the client (a WebSocket message, an xhr_send body)."""


class Receiver:
    """Takes a session's frames; the base does nothing (no receiver)."""

    def wake(self) -> None:
        """The session may have frames for it."""

    def buffered(self) -> int:
        return 0

    def gone(self) -> bool:
        """Whether its client is gone (the sweep then wakes it to end it)."""
        return False

    def abort(self) -> None:
        """Drop the client now."""


class RequestReceiver(Receiver):
    """An xhr, xhr_streaming or eventsource request; its handler waits on `event`."""

    __slots__ = ("event", "request")

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.event = asyncio.Event()

    def wake(self) -> None:
        self.event.set()

    def buffered(self) -> int:
        transport = self.request.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        self.event.set()


class SockJsLink:
    """The broker's Link of one SockJS session (see the module docstring)."""

    __slots__ = ("clock", "ended", "endpoint", "lock", "reading", "receiver", "sessions", "sockjs")

    def __init__(self, sessions: SockJsSessions, sockjs: SockJsSession) -> None:
        self.sessions = sessions
        self.sockjs = sockjs
        self.clock = sessions.clock
        self.receiver: Receiver = NO_RECEIVER
        self.reading = asyncio.Event()
        self.reading.set()
        self.lock = asyncio.Lock()        # xhr_send requests of one session, in order
        self.endpoint: Endpoint | None = None
        self.ended = False                # the STOMP connection was told it is lost

    # Link -------------------------------------------------------------------

    def write(self, chunks: list[tuple[bytes, bool]]) -> None:
        if not self.sockjs.send([data.decode("utf-8", "replace") for data, _ in chunks]):
            if not self.sockjs.closed:
                self.abort()   # over max_queued_bytes (the broker normally drops it first)
            return
        self.receiver.wake()

    def buffered(self) -> int:
        return self.sockjs.queued_bytes + self.receiver.buffered()

    def close(self) -> None:
        self.sockjs.close()
        self.receiver.wake()
        self.sessions.end(self)

    def abort(self) -> None:
        self.sockjs.close(drop=True)
        self.receiver.abort()
        self.sessions.end(self)

    def pause_reading(self) -> None:
        self.reading.clear()

    def resume_reading(self) -> None:
        self.reading.set()

    # receivers ----------------------------------------------------------------

    def take(self) -> list[str]:
        """The frames for the attached receiver; tells the broker when this drained a
        congested queue."""
        before = self.sockjs.queued_bytes
        frames = self.sockjs.take(self.clock())
        if before > self.sessions.soft_pending and self.endpoint is not None and not self.ended:
            self.endpoint.writable()
        return frames

    async def feed(self, messages: list[str]) -> None:
        """Client messages into the STOMP connection, in order, each waiting while the
        broker paused reading."""
        for message in messages:
            await self.reading.wait()
            if self.ended or self.endpoint is None:
                return
            self.endpoint.receive(message.encode("utf-8"))


NO_RECEIVER = Receiver()


class WsReceiver(HttpWsLink, Receiver):
    """The websocket transport: frames go out as WebSocket text messages at once."""

    __slots__ = ("link",)

    def __init__(self, request: web.Request, link: SockJsLink, soft_pending: int) -> None:
        super().__init__(request, soft_pending)
        self.link = link
        self.reading = link.reading
        self.endpoint = link.endpoint

    def wake(self) -> None:
        if self.done.done() or self.transport.is_closing():
            return
        frames = self.link.take()
        if frames:
            self.write_bytes(b"".join([ws_message(f.encode("utf-8"), True) for f in frames]))
            if self.link.sockjs.closed:
                self.close()   # the close frame went out: the handler closes the WebSocket

    def gone(self) -> bool:
        return self.done.done() or self.transport.is_closing()


class SockJsSessions:
    """The SockJS sessions of one node's REST port, by session id."""

    def __init__(self, acceptor: Acceptor, options: SockJsOptions) -> None:
        self.acceptor = acceptor
        self.options = options
        self.soft_pending = acceptor.soft_pending_bytes
        self.links: dict[str, SockJsLink] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.period = max(0.01, min(1.0, options.heartbeat / 4, options.disconnect_delay / 4))

    def clock(self) -> float:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop.time()

    def get(self, session_id: str) -> SockJsLink | None:
        return self.links.get(session_id)

    def open(self, session_id: str, handshake_token: str | None,
             peer: str | None = None) -> SockJsLink:
        """A new session and its STOMP connection (the id must be free); `peer` is the
        client's address."""
        options = self.options
        sockjs = SockJsSession(
            session_id, self.clock(), heartbeat=options.heartbeat,
            disconnect_delay=options.disconnect_delay, max_queued_bytes=options.max_queued_bytes,
        )
        link = SockJsLink(self, sockjs)
        self.links[session_id] = link
        endpoint = link.endpoint = self.acceptor.accept(
            link, handshake_token=handshake_token, websocket=True, peer=peer)
        if link.ended:   # closed inside accept (the broker is shutting down): lost, as `end` does
            asyncio.get_running_loop().call_soon(endpoint.lost)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return link

    def end(self, link: SockJsLink) -> None:
        """The STOMP connection of `link` is over (soon: not inside the broker's call)."""
        if not link.ended:
            link.ended = True
            link.reading.set()    # an xhr_send waiting for the broker to read: it ends now
            if link.endpoint is not None:
                asyncio.get_running_loop().call_soon(link.endpoint.lost)

    def forget(self, link: SockJsLink) -> None:
        """Remove `link` now (its websocket ended: that session cannot resume)."""
        if self.links.get(link.sockjs.id) is link:
            del self.links[link.sockjs.id]
        link.sockjs.close()
        self.end(link)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                self.sweep(self.clock())
            except Exception:   # never let the sweep die; a defect, logged
                log.exception("SockJS sweep failed")

    def sweep(self, now: float) -> None:
        """Heartbeats due, receivers whose client left, sessions expired."""
        for session_id, link in list(self.links.items()):
            sockjs = link.sockjs
            receiver = link.receiver
            if receiver is not NO_RECEIVER and (receiver.gone() or sockjs.pending(now)):
                receiver.wake()
            if sockjs.expired(now):
                del self.links[session_id]
                self.end(link)

    async def close(self) -> None:
        """Stop the sweep and end every session still open."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for link in list(self.links.values()):
            link.sockjs.close()
            link.receiver.wake()
            if not link.ended and link.endpoint is not None:
                link.ended = True
                link.endpoint.lost()
        self.links.clear()
