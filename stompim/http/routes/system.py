"""/health (liveness), /readyz (readiness), /metrics (Prometheus, stompim.metrics) and the OpenAPI
document at /v3/api-docs (where springdoc serves it) and /api/docs.

`/health` answers 200 as long as the process serves HTTP: a load balancer must not
restart a node because its database is down. `/readyz` asks each dependency once,
bounded (READINESS_TIMEOUT), and answers 503 naming every one that is not ready.
"""

from __future__ import annotations

import orjson
from aiohttp import web
from pydantic import Field

from stompim.errors import UNAVAILABLE
from stompim.http.api import API, ApiRoutes
from stompim.http.keys import METRICS, SERVICES
from stompim.http.models.base import View
from stompim.http.openapi import build_openapi
from stompim.http.result import envelope, json_response
from stompim.store.health import readiness

routes = ApiRoutes("system")

READINESS_TIMEOUT = 1.0
"""Seconds each dependency may take to answer a readiness check."""


class Health(View):
    status: str = Field(description='"ok" while the process serves')


class Readiness(View):
    status: str = Field(description='"ready", or "unavailable" (then HTTP 503)')
    dependencies: dict[str, str] = Field(
        description='"database" and, with Redis configured, "redis": "ok" or why not'
    )


@routes.get("/health", summary="Liveness probe", public=True, response=Health)
async def health(request: web.Request) -> object:
    return {"status": "ok"}


@routes.get(
    "/readyz",
    summary="Readiness probe: 200 when the database and Redis answer, else 503 naming them",
    public=True,
    response=Readiness,
)
async def readyz(request: web.Request) -> object:
    services = request.app[SERVICES]
    states = await readiness(services.db, services.kv, READINESS_TIMEOUT)
    broken = [f"{name} ({state})" for name, state in states.items() if state != "ok"]
    if not broken:
        return {"status": "ready", "dependencies": states}
    payload = envelope(
        UNAVAILABLE, "not ready: " + ", ".join(broken),
        {"status": "unavailable", "dependencies": states},
    )
    response = json_response(payload, status=503)
    response.headers["Retry-After"] = "1"
    return response


@routes.get(
    "/metrics",
    summary="Prometheus metrics in the text exposition format 0.0.4 (no envelope); "
    "the list is in README.md",
    public=True,
    raw="text/plain",
)
async def metrics(request: web.Request) -> object:
    body = request.app[METRICS].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format (what generate_latest writes, every name in the legacy
character set), which every Prometheus reads; prometheus-client >= 0.22 calls it 1.0.0."""


_DOCUMENT: web.AppKey[dict[str, bytes]] = web.AppKey("stompim.openapi")
"""The document, built on first use (every route module has registered by then)."""


def _openapi(request: web.Request) -> web.Response:
    cache = request.app[_DOCUMENT]
    if "json" not in cache:
        cache["json"] = orjson.dumps(build_openapi(request.app[API]))
    return web.Response(body=cache["json"], content_type="application/json")


_DOCS = "This OpenAPI 3.1 document (plain JSON, no envelope)"


@routes.get("/v3/api-docs", summary=_DOCS, public=True, raw="application/json")
async def api_docs_v3(request: web.Request) -> object:
    return _openapi(request)


@routes.get("/api/docs", summary=_DOCS, public=True, raw="application/json")
async def api_docs(request: web.Request) -> object:
    return _openapi(request)


def register_routes(app: web.Application) -> None:
    app[_DOCUMENT] = {}
    routes.register(app)
