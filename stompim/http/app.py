"""The aiohttp application factory: `create_http_app(services)`.

Call order (app.py of the package): build the store and the services, then
`create_http_app(services)`, then run it with an AppRunner. The factory installs
the middlewares (request id + access log, CORS, errors -> Result, with
http.error_status = "ok" refusals as HTTP 200, auth), the body limit
(`http.max_body_bytes` -> 413/9006) and every module in `routes.ROUTE_MODULES`.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger

from stompim.forwarded import TrustedProxies
from stompim.http import access
from stompim.http.api import API, ApiRegistry
from stompim.http.keys import METRICS, SERVICES
from stompim.http.middlewares import (
    FAILURE_LOG,
    auth_middleware,
    cors_middleware,
    error_middleware,
    forwarded_middleware,
    log,
    refusals_as_ok,
)
from stompim.http.routes import ROUTE_MODULES
from stompim.im.services import ImServices
from stompim.metrics import NodeRegistry
from stompim.rate_limited_log import RateLimitedLog


class _QuietParseErrors(logging.Filter):
    """aiohttp logs a request it cannot even parse (a NUL in a header, a request line
    over 8 KiB) at ERROR with a traceback, after answering it 400 itself.  That is the
    client's fault, not ours: one INFO line, so no client can fill the log with tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "unparsable request refused: %s"
            record.args = (" ".join(str(exc).split())[:200],)
            record.exc_info = None
        return True


def _quiet_parse_errors() -> None:
    if not any(isinstance(f, _QuietParseErrors) for f in server_logger.filters):
        server_logger.addFilter(_QuietParseErrors())


def create_http_app(
    services: ImServices, *, metrics: NodeRegistry | None = None
) -> web.Application:
    """`metrics` is what /metrics renders: the node's (with its broker's collectors, in
    app.py), else the process-wide families only."""
    _quiet_parse_errors()
    config = services.config
    status_mode = [refusals_as_ok] if config.http.error_status == "ok" else []
    app = web.Application(
        client_max_size=config.http.max_body_bytes,
        middlewares=[
            forwarded_middleware(TrustedProxies.parse(config.server.trusted_proxies)),
            access.access_middleware,
            cors_middleware(config.http.cors_origins),
            error_middleware,
            *status_mode,
            auth_middleware,
        ],
    )
    access.install(app)
    app[SERVICES] = services
    app[FAILURE_LOG] = RateLimitedLog(log)
    app[API] = ApiRegistry()
    app[METRICS] = metrics if metrics is not None else NodeRegistry()
    for register in ROUTE_MODULES:
        register(app)
    return app
