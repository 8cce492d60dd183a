"""Every route module of the REST API. To add an area: write `routes/<area>.py`
with an `ApiRoutes` and a `register_routes(app)`, then add it to ROUTE_MODULES."""

from __future__ import annotations

from typing import Callable

from aiohttp import web

from stompim.http.routes import system, user
from stompim.http.routes import conversation, message  # chat
from stompim.http.routes import friend, group, notification, whitelist  # social

RouteRegistrar = Callable[[web.Application], None]

ROUTE_MODULES: list[RouteRegistrar] = [
    system.register_routes,
    user.register_routes,
    conversation.register_routes,
    message.register_routes,
    friend.register_routes,  # social
    group.register_routes,  # social
    whitelist.register_routes,  # social
    notification.register_routes,  # social
]
