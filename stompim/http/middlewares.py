"""The middlewares, outermost first: forwarded address, CORS, errors -> Result, [refusals as
200], authentication (the access log sits between the first two: stompim.http.access).

forwarded_middleware  behind a trusted reverse proxy, `request.remote` becomes the
                  client's address from X-Forwarded-For (stompim.forwarded), so
                  per-IP limits and the access log see clients, not the proxy.

cors_middleware   answers preflight OPTIONS itself; adds Access-Control-*
                  headers to every response for an allowed Origin.
error_middleware  turns every failure into a Result: a Refusal (ImError) -> its
                  code and status; Unavailable (the database or Redis did not
                  answer in time, or refused) -> 503/9503 with Retry-After; a
                  value the store refused that no check caught (InvalidValue)
                  -> 400/9001; aiohttp HTTPException (404 route, 405, 413) ->
                  9xxx; anything else (a bug) -> 500/9999, no details. Failures
                  are logged once per interval with a count, never a line (or a
                  traceback) per request.
refusals_as_ok    only with http.error_status = "ok": a Refusal (ImError included)
                  raised by auth or a handler answers HTTP 200 with its code in the
                  Result; everything else passes on to error_middleware unchanged.
auth_middleware   requires `Authorization: Bearer <jwt>` except on public
                  routes and on requests no route matched (so 404/405 stay
                  404/405); stores TokenClaims under request[CLAIMS].
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from stompim.errors import UNAVAILABLE, InvalidValue, Refusal, Unavailable
from stompim.forwarded import TrustedProxies
from stompim.http.api import API
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.result import error
from stompim.im import errors as codes
from stompim.im.errors import ImError
from stompim.rate_limited_log import RateLimitedLog

log = logging.getLogger(__name__)

FAILURE_LOG: web.AppKey[RateLimitedLog] = web.AppKey("stompim.failure_log", RateLimitedLog)
"""The app's failure log: each kind of failure once per interval, with a count."""

_STATUS_CODES = {
    400: codes.BAD_REQUEST,
    401: codes.UNAUTHORIZED,
    403: codes.FORBIDDEN,
    404: codes.NOT_FOUND,
    405: codes.BAD_REQUEST,
    413: codes.PAYLOAD_TOO_LARGE,
    429: codes.TOO_MANY_REQUESTS,
}

ALLOWED_METHODS = "GET, POST, PUT, DELETE, PATCH, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Requested-With, X-Request-Id"
EXPOSED_HEADERS = "X-Request-Id"


def forwarded_middleware(proxies: TrustedProxies) -> Middleware:
    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        client = proxies.client_ip(request.remote, request.headers.get("X-Forwarded-For"))
        if client is not None and client != request.remote:
            request = request.clone(remote=client)
        return await handler(request)

    return forwarded


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    quiet = request.app[FAILURE_LOG]
    try:
        return await handler(request)
    except Refusal as exc:
        return error(exc.code, exc.message, exc.status)
    except Unavailable as exc:
        quiet.warning(("unavailable", exc.dependency), "answering 503: %s", exc.message)
        return unavailable(exc)
    except InvalidValue as exc:
        quiet.warning(("invalid", request.path), "a value of %s %s reached the store: %s",
                       request.method, request.path, exc)
        return error(codes.BAD_REQUEST, "a value of the request is out of range", 400)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_exception_result(request, exc)
    except Exception as exc:
        quiet.exception((type(exc), str(exc)[:120]), "unhandled error on %s %s",
                        request.method, request.path)
        return error(codes.INTERNAL_ERROR, "internal server error", 500)


def unavailable(exc: Unavailable) -> web.Response:
    """503/9503 with Retry-After: a dependency is down, the client should retry."""
    response = error(UNAVAILABLE, exc.message, 503)
    response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


def _http_exception_result(request: web.Request, exc: web.HTTPException) -> web.Response:
    status = exc.status
    code = _STATUS_CODES.get(status, codes.BAD_REQUEST if status < 500 else codes.INTERNAL_ERROR)
    if status == 404:
        message = f"no such endpoint: {request.method} {request.path}"
    elif status == 405:
        message = f"method {request.method} not allowed on {request.path}"
    elif status == 413:
        limit = request.app[SERVICES].config.http.max_body_bytes
        message = f"request body larger than {limit} bytes"
    elif status >= 500:
        message = "internal server error"
    else:
        message = (exc.reason or "bad request").lower()
    response = error(code, message, status)
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


@web.middleware
async def refusals_as_ok(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The status mode "ok" (http.error_status): a business refusal is HTTP 200 with its
    code in the Result, as Spring backends whose clients read only the envelope answer.
    Sits inside error_middleware, so what is not a Refusal (an unavailable dependency,
    a framework 404/405/413, a bug) keeps the status error_middleware gives it."""
    try:
        return await handler(request)
    except Refusal as exc:
        if exc.status >= 500:
            raise
        return error(exc.code, exc.message, 200)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is not None or request.app[API].is_public(match.route):
        return await handler(request)
    token = bearer_token(request)
    if token is None:
        raise ImError(codes.UNAUTHORIZED, "authentication required", 401)
    request[CLAIMS] = await request.app[SERVICES].accounts.authenticate_token(token)
    return await handler(request)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def cors_middleware(origins: Iterable[str]) -> Middleware:
    """CORS for the configured browser origins ("*" allows any, still echoed, since
    credentials are allowed)."""
    allowed = frozenset(origins)
    any_origin = "*" in allowed

    def origin_ok(origin: str | None) -> bool:
        return origin is not None and (any_origin or origin in allowed)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        preflight = (
            request.method == "OPTIONS"
            and origin is not None
            and "Access-Control-Request-Method" in request.headers
        )
        if preflight:
            if not origin_ok(origin):
                return error(codes.FORBIDDEN, "origin not allowed", 403)
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if origin_ok(origin) and not response.prepared:
            response.headers["Access-Control-Allow-Origin"] = origin  # type: ignore[assignment]
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            response.headers.add("Vary", "Origin")
        return response

    return middleware
