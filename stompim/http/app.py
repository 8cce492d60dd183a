"""The aiohttp application factory: `create_http_app(services)`.

Call order (app.py of the package): build the store and the services, then
`create_http_app(services)`, then run it with an AppRunner. The factory installs
the middlewares (request id + access log, CORS, errors -> Result, auth), the body limit
(`http.max_body_bytes` -> 413/9006) and every module in `routes.ROUTE_MODULES`.
"""

from __future__ import annotations

from aiohttp import web

from stompim.http import access
from stompim.http.api import API, ApiRegistry
from stompim.http.keys import METRICS, SERVICES, MetricsSource
from stompim.http.middlewares import auth_middleware, cors_middleware, error_middleware
from stompim.http.routes import ROUTE_MODULES
from stompim.im.services import ImServices


def create_http_app(
    services: ImServices, *, metrics: MetricsSource | None = None
) -> web.Application:
    """`metrics` supplies the node's counters for /metrics (the broker's, in app.py)."""
    config = services.config
    app = web.Application(
        client_max_size=config.http.max_body_bytes,
        middlewares=[
            access.access_middleware,
            cors_middleware(config.http.cors_origins),
            error_middleware,
            auth_middleware,
        ],
    )
    access.install(app)
    app[SERVICES] = services
    app[API] = ApiRegistry()
    app[METRICS] = metrics if metrics is not None else dict
    for register in ROUTE_MODULES:
        register(app)
    return app
