"""/api/whitelist: friends pulled into every group I create with useWhitelist."""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes, Param
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.result import ok
from stompim.http.schema import BOOL, INT, arr, obj, ref
from stompim.http.validation import path_id

routes = ApiRoutes("whitelist")
_UID = (Param("userId", INT, True),)


@routes.get("/api/whitelist", summary="My whitelist",
            response=arr(obj({"userId": INT, "addedAt": INT, "friend": BOOL,
                              "user": ref("UserSummary")})))
async def entries(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].whitelist.entries(request[CLAIMS].user_id))


@routes.post("/api/whitelist/{userId}", summary="Whitelist a friend (friends only)",
             path_params=_UID)
async def add(request: web.Request) -> web.Response:
    await request.app[SERVICES].whitelist.add(request[CLAIMS].user_id, path_id(request, "userId"))
    return ok()


@routes.delete("/api/whitelist/{userId}", summary="Remove from my whitelist", path_params=_UID)
async def remove(request: web.Request) -> web.Response:
    await request.app[SERVICES].whitelist.remove(
        request[CLAIMS].user_id, path_id(request, "userId"))
    return ok()


def register_routes(app: web.Application) -> None:
    routes.register(app)
