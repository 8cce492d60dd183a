"""Request ids and the access log of the REST API.

`access_middleware` is the outermost middleware (create_http_app puts it first), so it
sees every request, a CORS preflight or a 404 included, and the final status the inner
middlewares decided:

1. the request id is the incoming ``X-Request-Id`` when it is a sane token (1-128
   characters of ``A-Za-z0-9._:-``; anything else could forge log lines), else a new
   random one; it is kept under ``request[REQUEST_ID]`` and enters the log context
   (stompim.logs), so every line written while the request is served carries it, and
   its user id once the auth middleware identified the caller;
2. after the handler, one access line on the ``stompim.http.access`` logger: method,
   route template (``/api/user/info/{userId}``, never the query string; the path when
   no route matched), status, duration (until the response was ready: a file's bytes
   go out after), remote address, request id and user id; and the same request in
   /metrics (stompim_http_requests_total and stompim_http_request_duration_seconds, by
   method, route template, and status; "(unmatched)" for a request no route matched).

`echo_request_id` (an ``on_response_prepare`` signal, installed by `install`) writes the
id into the ``X-Request-Id`` response header of every response, streamed ones included.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from stompim import logs
from stompim.http.keys import CLAIMS
from stompim.metrics import HTTP_REQUESTS, HTTP_SECONDS

__all__ = ["REQUEST_ID", "REQUEST_ID_HEADER", "access_middleware", "install"]

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID = web.RequestKey("stompim.request_id", str)
"""The id of this request (incoming X-Request-Id or generated)."""

_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CLIENT_CLOSED = 499
"""Status logged when the client went away before the answer (nginx's convention)."""


def request_id_for(request: web.BaseRequest) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if _SANE_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "(unmatched)"
"""The route label in /metrics of a request no route matched (paths are unbounded)."""


def route_of(request: web.Request) -> str:
    """The route template the request matched, or its path when none did."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


def _user_of(request: web.Request) -> int | None:
    claims = request.get(CLAIMS)
    return claims.user_id if claims is not None else None


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_for(request)
    request[REQUEST_ID] = request_id
    scope = logs.enter_request(request_id, lambda: _user_of(request))
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # redirects and the like pass through here
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = CLIENT_CLOSED
        raise
    finally:
        elapsed = time.perf_counter() - started
        elapsed_ms = elapsed * 1000
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else request.path
        label = route if resource is not None else UNMATCHED
        method = request.method if request.method in _METHODS else "OTHER"
        HTTP_REQUESTS.labels(method, label, str(status)).inc()
        HTTP_SECONDS.labels(method, label).observe(elapsed)
        log.info(
            "%s %s %d %.1fms", request.method, route, status, elapsed_ms,
            extra={
                "method": request.method,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed_ms, 3),
                "remote": request.remote,
            },
        )
        logs.leave_request(scope)


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id


def install(app: web.Application) -> None:
    """Echo the request id on every response (the middleware is passed to the app)."""
    app.on_response_prepare.append(echo_request_id)
