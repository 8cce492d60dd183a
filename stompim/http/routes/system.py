"""/health and /api/docs (the OpenAPI document of every registered endpoint)."""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import API, ApiRoutes
from stompim.http.openapi import build_openapi
from stompim.http.result import json_response, ok
from stompim.http.schema import STR, obj

routes = ApiRoutes("system")


@routes.get("/health", summary="Liveness probe", public=True, response=obj({"status": STR}))
async def health(request: web.Request) -> web.Response:
    return ok({"status": "ok"})


@routes.get("/api/docs", summary="This OpenAPI 3 document (plain JSON, no envelope)", public=True)
async def docs(request: web.Request) -> web.Response:
    return json_response(build_openapi(request.app[API]))


def register_routes(app: web.Application) -> None:
    routes.register(app)
