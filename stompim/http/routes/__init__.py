"""Every route module of the REST API. To add an area: write `routes/<area>.py`
with an `ApiRoutes` and a `register_routes(app)`, then add it to ROUTE_MODULES."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from stompim.http.routes import (  # chat  # social
    conversation,
    file,
    friend,
    group,
    live,
    message,
    notification,
    swagger,
    system,
    user,
    webclient,
    whitelist,
)

RouteRegistrar = Callable[[web.Application], None]

ROUTE_MODULES: list[RouteRegistrar] = [
    system.register_routes,
    user.register_routes,
    conversation.register_routes,
    live.register_routes,  # before message: /api/message/search, /api/message/delivered
    message.register_routes,
    friend.register_routes,  # social
    group.register_routes,  # social
    whitelist.register_routes,  # social
    notification.register_routes,  # social
    swagger.register_routes,
    webclient.register_routes,
    file.register_routes,  # media
]
