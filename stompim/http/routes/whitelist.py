"""/api/whitelist: friends pulled into every group I create with useWhitelist."""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.models.friend import UserIdPath, WhitelistEntry

routes = ApiRoutes("whitelist")


@routes.get("/api/whitelist", summary="My whitelist", response=list[WhitelistEntry])
async def entries(request: web.Request) -> object:
    return await request.app[SERVICES].whitelist.entries(request[CLAIMS].user_id)


@routes.post("/api/whitelist/{userId}", summary="Whitelist a friend (friends only)")
async def add(request: web.Request, path: UserIdPath) -> object:
    await request.app[SERVICES].whitelist.add(request[CLAIMS].user_id, path.user_id)
    return None


@routes.delete("/api/whitelist/{userId}", summary="Remove from my whitelist")
async def remove(request: web.Request, path: UserIdPath) -> object:
    await request.app[SERVICES].whitelist.remove(request[CLAIMS].user_id, path.user_id)
    return None


def register_routes(app: web.Application) -> None:
    routes.register(app)
