"""Declaring an endpoint once: its route, its models, whether it needs a token, its docs.

A route module builds an `ApiRoutes` and decorates handlers::

    @routes.post("/api/friend/request", summary="...", response=FriendRequest)
    async def send_request(request: web.Request, body: SendFriendRequest) -> object:
        return await services(request).friends.send_request(me(request), body.to_user_id, ...)

The handler's parameters say what it reads, by name and model type: `body` (a JSON Body),
`query` (a Query), `path` (a Path), `headers` (a Headers).  `register(app)` wraps each
handler so that, per request, in this order: the path, header and query parameters and
then the body are validated into those models (a refusal is 9001 naming the field); the
handler runs; what it returns is validated against `response` and written as the `data`
of a success Result.  A handler that returns a `web.StreamResponse` (documents, metrics)
answers as it is.  The OpenAPI document (stompim/http/openapi.py) reads the same
`Endpoint`s, so what is served and what is documented cannot drift apart.

Call order at start-up: route modules decorate at import; `create_http_app` creates the
app's `ApiRegistry` and calls every `register_routes(app)`; the auth middleware then asks
the registry whether the matched route is public.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute
from pydantic import BaseModel, TypeAdapter

from stompim.http import inputs
from stompim.http.models.base import Body, Headers, Path, Query
from stompim.http.result import ok

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ModelHandler = Callable[..., Awaitable[object]]
H = TypeVar("H", bound=ModelHandler)

_INPUTS: dict[str, type[BaseModel]] = {
    "body": Body,
    "query": Query,
    "path": Path,
    "headers": Headers,
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: ModelHandler
    summary: str
    tag: str
    public: bool = False
    response: Any = None
    """The type of `data` on success: a View, `list[View]`, `Page[View]`, `int`, ... or None."""
    form: type[BaseModel] | None = None
    """Documents a multipart/form-data body the handler reads itself (uploads)."""
    raw: str | None = None
    """The media type of an answer without the envelope (documents, metrics)."""
    description: str = ""
    models: dict[str, type[BaseModel]] = field(default_factory=dict)
    """Filled from the handler's signature: "body" / "query" / "path" / "headers" -> model."""

    @property
    def operation_id(self) -> str:
        return f"{self.tag}_{self.handler.__name__}"


@dataclass
class ApiRegistry:
    """Per-app: every registered endpoint, and which routes are public."""

    endpoints: list[Endpoint] = field(default_factory=list)
    public_routes: set[AbstractRoute] = field(default_factory=set)

    def add(self, endpoint: Endpoint, route: AbstractRoute) -> None:
        self.endpoints.append(endpoint)
        if endpoint.public:
            self.public_routes.add(route)

    def is_public(self, route: AbstractRoute) -> bool:
        return route in self.public_routes


API = web.AppKey("stompim.api", ApiRegistry)
"""The app's ApiRegistry (created by create_http_app before routes register)."""


def _declared_models(handler: ModelHandler) -> dict[str, type[BaseModel]]:
    """The handler's input parameters by name, checked against the kinds above."""
    hints = typing.get_type_hints(handler)
    models: dict[str, type[BaseModel]] = {}
    for index, name in enumerate(inspect.signature(handler).parameters):
        if index == 0:
            continue  # the request
        base = _INPUTS.get(name)
        model = hints.get(name)
        if base is None or not (isinstance(model, type) and issubclass(model, base)):
            raise TypeError(
                f"{handler.__qualname__}: parameter {name!r} must be one of "
                f"{sorted(_INPUTS)} typed with a {base.__name__ if base else 'model'} subclass"
            )
        models[name] = model
    return models


def _check_path(endpoint: Endpoint) -> None:
    placeholders = {part[1:-1] for part in endpoint.path.split("/") if part.startswith("{")}
    model = endpoint.models.get("path")
    declared = {f.alias or n for n, f in model.model_fields.items()} if model else set()
    if placeholders != declared:
        raise TypeError(
            f"{endpoint.method} {endpoint.path}: path parameters {sorted(placeholders)} "
            f"but the handler declares {sorted(declared)}"
        )


@functools.cache
def adapter_for(tp: Any) -> TypeAdapter[Any]:
    """One TypeAdapter per type for the process (building one costs ~a millisecond)."""
    return TypeAdapter(tp)


def _wrap(endpoint: Endpoint) -> Handler:
    models = endpoint.models
    render = adapter_for(endpoint.response) if endpoint.response is not None else None
    readers: list[tuple[str, Callable[[web.Request, Any], Any]]] = [
        (name, reader)
        for name, reader in (
            ("path", inputs.path_params),
            ("headers", inputs.header_params),
            ("query", inputs.query_params),
        )
        if name in models
    ]
    handler = endpoint.handler

    async def handle(request: web.Request) -> web.StreamResponse:
        kwargs = {name: reader(request, models[name]) for name, reader in readers}
        if "body" in models:
            kwargs["body"] = await inputs.json_body(request, models["body"])
        value = await handler(request, **kwargs)
        if isinstance(value, web.StreamResponse):
            return value
        if render is None:
            if value is not None:  # data the document does not declare: our bug, a 500
                raise TypeError(f"{endpoint.operation_id} declares no response data")
            return ok(None)
        # A value that does not fit the declared response is our bug: it raises here and
        # the error middleware answers 500 (tests and schemathesis look for exactly that).
        # exclude_unset: an optional key the domain leaves out stays out (toUserId of a
        # group message), as in the STOMP bodies of the same value.
        checked = render.validate_python(value, from_attributes=True)
        data = render.dump_python(checked, mode="json", by_alias=True, exclude_unset=True)
        return ok(data)

    handle.__name__ = handler.__name__
    handle.__doc__ = handler.__doc__
    return handle


class ApiRoutes:
    """Endpoints of one area (its OpenAPI tag), collected by decorators, registered on an app."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self._endpoints: list[Endpoint] = []

    def route(
        self, method: str, path: str, *, summary: str, **options: Any
    ) -> Callable[[H], H]:
        def decorate(handler: H) -> H:
            endpoint = Endpoint(method, path, handler, summary, self.tag, **options)
            endpoint.models.update(_declared_models(handler))
            _check_path(endpoint)
            self._endpoints.append(endpoint)
            return handler

        return decorate

    def get(self, path: str, *, summary: str, **options: Any) -> Callable[[H], H]:
        return self.route("GET", path, summary=summary, **options)

    def post(self, path: str, *, summary: str, **options: Any) -> Callable[[H], H]:
        return self.route("POST", path, summary=summary, **options)

    def put(self, path: str, *, summary: str, **options: Any) -> Callable[[H], H]:
        return self.route("PUT", path, summary=summary, **options)

    def delete(self, path: str, *, summary: str, **options: Any) -> Callable[[H], H]:
        return self.route("DELETE", path, summary=summary, **options)

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(self._endpoints)

    def register(self, app: web.Application) -> None:
        registry = app[API]
        for endpoint in self._endpoints:
            route = app.router.add_route(endpoint.method, endpoint.path, _wrap(endpoint))
            registry.add(endpoint, route)
