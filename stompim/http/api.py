"""Declaring endpoints once: the route, whether it needs a token, and its docs.

A route module builds an `ApiRoutes`, decorates handlers with
`@routes.get/post/put/delete(path, summary=..., public=..., body=..., query=..., response=...)`
and exposes `register_routes(app)` which calls `routes.register(app)`. That adds
the aiohttp routes and records each `Endpoint` in the app's `ApiRegistry`, which
the auth middleware asks "is this route public?" and /api/docs turns into
OpenAPI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from stompim.http.schema import Schema

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Param:
    """A query or path parameter, for the docs."""

    name: str
    schema: Schema
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    public: bool = False
    body: Schema | None = None
    query: tuple[Param, ...] = ()
    path_params: tuple[Param, ...] = ()
    response: Schema | None = None
    headers: tuple[Param, ...] = ()


@dataclass
class ApiRegistry:
    """Per-app: every registered endpoint plus shared component schemas."""

    endpoints: list[Endpoint] = field(default_factory=list)
    components: dict[str, Schema] = field(default_factory=dict)
    public_routes: set[AbstractRoute] = field(default_factory=set)

    def add(self, endpoint: Endpoint, route: AbstractRoute) -> None:
        self.endpoints.append(endpoint)
        if endpoint.public:
            self.public_routes.add(route)

    def is_public(self, route: AbstractRoute) -> bool:
        return route in self.public_routes


API = web.AppKey("stompim.api", ApiRegistry)
"""The app's ApiRegistry (created by create_http_app before routes register)."""


class ApiRoutes:
    """Endpoints of one area (tag), collected by decorators, registered on an app."""

    def __init__(self, tag: str, components: dict[str, Schema] | None = None) -> None:
        self.tag = tag
        self.components = components or {}
        self._endpoints: list[Endpoint] = []

    def route(
        self, method: str, path: str, *, summary: str, **options: Any
    ) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self._endpoints.append(Endpoint(method, path, handler, summary, self.tag, **options))
            return handler

        return decorate

    def get(self, path: str, *, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, summary=summary, **options)

    def post(self, path: str, *, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, summary=summary, **options)

    def put(self, path: str, *, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, summary=summary, **options)

    def delete(self, path: str, *, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, summary=summary, **options)

    def register(self, app: web.Application) -> None:
        registry = app[API]
        registry.components.update(self.components)
        for ep in self._endpoints:
            route = app.router.add_route(ep.method, ep.path, ep.handler)
            registry.add(ep, route)
