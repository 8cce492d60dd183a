"""The STOMP endpoints of the REST port: raw WebSocket and SockJS at each configured path.

What Spring's `registry.addEndpoint("/ws").withSockJS()` serves, for front ends that
use one origin (config `http.stomp_paths`, default ``["/ws"]``; `http.sockjs`):

| request | answer |
| --- | --- |
| `GET /ws` with `Upgrade: websocket` | STOMP over WebSocket (stompim.broker.http_ws) |
| `GET /ws`, `GET /ws/` (SockJS on) | ``Welcome to SockJS!`` |
| `GET /ws/info` | the SockJS info document (websocket transport on, no cookie) |
| `GET /ws/websocket` | STOMP over WebSocket, as SockJS's "raw" URL |
| `GET /ws/<server>/<session>/websocket` | SockJS websocket transport |
| `POST /ws/<server>/<session>/xhr` | SockJS xhr-polling: one answer per request |
| `POST /ws/<server>/<session>/xhr_streaming` | SockJS xhr-streaming |
| `GET /ws/<server>/<session>/eventsource` | SockJS EventSource streaming |
| `POST /ws/<server>/<session>/xhr_send` | client messages (204) |

Not served: iframe.html, htmlfile and JSONP (for browsers without CORS; sockjs-client
then falls back to the transports above).  Every request first passes the Origin
check (`OriginCheck`: no Origin, the same origin, or `http.cors_origins`; else 403).
The token of the request that opens a session (`?token=`, sockjs-client keeps the
URL's query on every transport URL, or `Authorization: Bearer`) authenticates it as
on port 8081, as do the CONNECT headers.

Call order: `StompEndpoints(acceptor, options)`, `add_routes(app)` before the app
starts (returns the routes, which the caller makes public: they authenticate in
STOMP), `close()` at cleanup.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import AbstractRoute

from .http_sockjs import (
    NO_RECEIVER,
    RequestReceiver,
    SockJsLink,
    SockJsOptions,
    SockJsSessions,
    WsReceiver,
)
from .http_ws import (
    OriginCheck,
    handshake_token,
    run_until_done,
    serve_websocket,
    websocket_response,
)
from .link import Acceptor
from .sockjs import ANOTHER_CONNECTION, SockJsError, close_frame, parse_messages, valid_segment

__all__ = ["EndpointOptions", "StompEndpoints"]

NO_CACHE = "no-store, no-cache, no-transform, must-revalidate, max-age=0"
JS = "application/javascript; charset=UTF-8"
STREAM_PRELUDE = b"h" * 2048 + b"\n"
"""xhr_streaming opens with 2 KiB, so that browsers start handing the stream over."""
UPGRADE_ONLY = 'Can "Upgrade" only to "WebSocket".\n'


@dataclass(frozen=True)
class EndpointOptions:
    paths: tuple[str, ...] = ("/ws",)
    sockjs: bool = True
    origins: tuple[str, ...] = ()
    max_frame_size: int = 1024 * 1024
    sockjs_options: SockJsOptions = field(default_factory=SockJsOptions)


def _xhr_frame(frame: str) -> bytes:
    return frame.encode("utf-8") + b"\n"


def _event_frame(frame: str) -> bytes:
    return b"data: " + frame.encode("utf-8") + b"\r\n\r\n"


class StompEndpoints:
    def __init__(self, acceptor: Acceptor, options: EndpointOptions) -> None:
        self.acceptor = acceptor
        self.options = options
        self.origin = OriginCheck(options.origins)
        self.sessions = SockJsSessions(acceptor, options.sockjs_options)

    def add_routes(self, app: web.Application) -> list[AbstractRoute]:
        router = app.router
        routes: list[AbstractRoute] = []
        for path in self.options.paths:
            routes.append(router.add_get(path, self.entry, allow_head=False))
            if not self.options.sockjs:
                continue
            session = path + "/{server}/{session}/"
            routes += [
                router.add_get(path + "/", self.greeting, allow_head=False),
                router.add_get(path + "/info", self.info, allow_head=False),
                router.add_get(path + "/websocket", self.raw_websocket, allow_head=False),
                router.add_get(session + "websocket", self.websocket, allow_head=False),
                router.add_post(session + "xhr", self.xhr),
                router.add_post(session + "xhr_streaming", self.xhr_streaming),
                router.add_get(session + "eventsource", self.eventsource, allow_head=False),
                router.add_post(session + "xhr_send", self.xhr_send),
            ]
        return routes

    async def close(self) -> None:
        await self.sessions.close()

    # ------------------------------------------------------------------ helpers

    def _headers(self, request: web.Request, content_type: str) -> dict[str, str]:
        headers: dict[str, str] = {hdrs.CONTENT_TYPE: content_type, hdrs.CACHE_CONTROL: NO_CACHE}
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None:
            headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
        return headers

    def _text(self, request: web.Request, body: str, content_type: str = JS,
              status: int = 200) -> web.Response:
        return web.Response(status=status, body=body.encode("utf-8"),
                            headers=self._headers(request, content_type))

    def _link(self, request: web.Request, *, create: bool) -> SockJsLink | None:
        server, session = request.match_info["server"], request.match_info["session"]
        if not (valid_segment(server) and valid_segment(session)):
            return None
        link = self.sessions.get(session)
        if link is None and create:
            link = self.sessions.open(session, handshake_token(request), request.remote)
        return link

    # -------------------------------------------------------------- handlers

    async def entry(self, request: web.Request) -> web.StreamResponse:
        if not self.origin.allows(request):
            return self.origin.refuse()
        if request.headers.get(hdrs.UPGRADE, "").lower() == "websocket":
            return await serve_websocket(
                request, self.acceptor, max_frame_size=self.options.max_frame_size)
        if self.options.sockjs:
            return await self.greeting(request)
        return web.Response(status=400, text=UPGRADE_ONLY)

    async def raw_websocket(self, request: web.Request) -> web.StreamResponse:
        if not self.origin.allows(request):
            return self.origin.refuse()
        return await serve_websocket(
            request, self.acceptor, max_frame_size=self.options.max_frame_size)

    async def greeting(self, request: web.Request) -> web.StreamResponse:
        if not self.origin.allows(request):
            return self.origin.refuse()
        return self._text(request, "Welcome to SockJS!\n", "text/plain; charset=UTF-8")

    async def info(self, request: web.Request) -> web.StreamResponse:
        if not self.origin.allows(request):
            return self.origin.refuse()
        entropy = random.getrandbits(31)
        body = (f'{{"entropy":{entropy},"origins":["*:*"],'
                '"cookie_needed":false,"websocket":true}')
        return self._text(request, body, "application/json; charset=UTF-8")

    async def xhr_send(self, request: web.Request) -> web.StreamResponse:
        if not self.origin.allows(request):
            return self.origin.refuse()
        link = self._link(request, create=False)
        if link is None or link.sockjs.closed:
            return web.Response(status=404, text="no such session\n")
        body = await request.read()
        try:
            messages = parse_messages(body)
        except SockJsError as exc:
            return self._text(request, str(exc), "text/plain; charset=UTF-8", 500)
        async with link.lock:
            await link.feed(messages)
        return self._text(request, "", "text/plain; charset=UTF-8", 204)

    async def xhr(self, request: web.Request) -> web.StreamResponse:
        """xhr-polling: answer what the session has (waiting for it), then end."""
        if not self.origin.allows(request):
            return self.origin.refuse()
        link = self._link(request, create=True)
        if link is None:
            return web.Response(status=404, text="no such session\n")
        clock = self.sessions.clock
        if not link.sockjs.attach(clock()):
            return self._text(request, close_frame(*ANOTHER_CONNECTION) + "\n")
        receiver = RequestReceiver(request)
        link.receiver = receiver
        try:
            frames = await self._next_frames(link, receiver)
        finally:
            link.receiver = NO_RECEIVER
            link.sockjs.detach(clock())
        return self._text(request, "".join(f + "\n" for f in frames))

    async def xhr_streaming(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, STREAM_PRELUDE, _xhr_frame, JS)

    async def eventsource(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(
            request, b"\r\n", _event_frame, "text/event-stream; charset=UTF-8")

    async def _next_frames(self, link: SockJsLink, receiver: RequestReceiver) -> list[str]:
        """The frames owed to `receiver`, waiting until there are some (heartbeats
        come from the sweep); empty when its client left."""
        clock = self.sessions.clock
        while True:
            receiver.event.clear()
            if link.sockjs.pending(clock()):
                return link.take()
            if receiver.gone():
                return []
            await receiver.event.wait()

    async def _stream(self, request: web.Request, prelude: bytes,
                      wrap: Callable[[str], bytes], content_type: str) -> web.StreamResponse:
        if not self.origin.allows(request):
            return self.origin.refuse()
        link = self._link(request, create=True)
        if link is None:
            return web.Response(status=404, text="no such session\n")
        clock = self.sessions.clock
        headers = self._headers(request, content_type)
        headers["X-Accel-Buffering"] = "no"   # a proxy (nginx) must pass the stream on as it comes
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        limit = self.options.sockjs_options.stream_bytes
        try:
            await response.write(prelude)
            if not link.sockjs.attach(clock()):
                await response.write(wrap(close_frame(*ANOTHER_CONNECTION)))
                return response
            receiver = RequestReceiver(request)
            link.receiver = receiver
            try:
                written = 0
                while written < limit:
                    frames = await self._next_frames(link, receiver)
                    if not frames:
                        break
                    data = b"".join([wrap(f) for f in frames])
                    await response.write(data)
                    written += len(data)
                    if link.sockjs.closed:
                        break
            finally:
                link.receiver = NO_RECEIVER
                link.sockjs.detach(clock())
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass   # the client left; the session waits for its next request
        return response

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """The SockJS websocket transport: one session for the socket's life."""
        if not self.origin.allows(request):
            return self.origin.refuse()
        server, session = request.match_info["server"], request.match_info["session"]
        if not (valid_segment(server) and valid_segment(session)) or self.sessions.get(session):
            return web.Response(status=404, text="no such session\n")
        ws = websocket_response(request, self.options.sockjs_options.max_message_size)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text=UPGRADE_ONLY)
        await ws.prepare(request)
        link = self.sessions.open(session, handshake_token(request), request.remote)
        link.sockjs.attach(self.sessions.clock())
        receiver = WsReceiver(request, link, self.acceptor.soft_pending_bytes)
        link.receiver = receiver

        def feed(data: bytes) -> None:
            if not data:
                return
            try:
                messages = parse_messages(data)
            except SockJsError:
                receiver.close()    # a broken client: end the session
                return
            endpoint = link.endpoint
            for message in messages:
                if link.ended or endpoint is None:
                    return
                endpoint.receive(message.encode("utf-8"))

        receiver.wake()   # the "o" frame
        try:
            await run_until_done(ws, receiver, feed)
        finally:
            link.receiver = NO_RECEIVER
            self.sessions.forget(link)
        return ws
