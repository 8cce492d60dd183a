"""/health, /metrics (Prometheus text) and /api/docs (the OpenAPI document)."""

from __future__ import annotations

import resource

from aiohttp import web

from stompim.http.api import API, ApiRoutes
from stompim.http.keys import METRICS
from stompim.http.openapi import build_openapi
from stompim.http.result import json_response, ok
from stompim.http.schema import STR, obj

routes = ApiRoutes("system")


@routes.get("/health", summary="Liveness probe", public=True, response=obj({"status": STR}))
async def health(request: web.Request) -> web.Response:
    return ok({"status": "ok"})


def _process_metrics() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "process_cpu_seconds_total": usage.ru_utime + usage.ru_stime,
        "process_max_resident_bytes": usage.ru_maxrss * 1024,
    }
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[1])
        out["process_resident_bytes"] = pages * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        pass
    return out


@routes.get(
    "/metrics", summary="Node counters in Prometheus text format (no envelope)", public=True
)
async def metrics(request: web.Request) -> web.Response:
    values = {f"stompim_{k}": v for k, v in request.app[METRICS]().items()}
    values.update(_process_metrics())
    lines = [f"{name} {value}" for name, value in sorted(values.items())]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


@routes.get("/api/docs", summary="This OpenAPI 3 document (plain JSON, no envelope)", public=True)
async def docs(request: web.Request) -> web.Response:
    return json_response(build_openapi(request.app[API]))


def register_routes(app: web.Application) -> None:
    routes.register(app)
