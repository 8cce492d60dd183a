"""/api/notification: the notification center (offset-paged list, unread count, mark read)."""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.models.notification import MarkRead, Notification, Updated
from stompim.http.paging import Page, PageQuery, page_view

routes = ApiRoutes("notification")


@routes.get("/api/notification", summary="My notifications, newest first",
            response=Page[Notification])
async def page(request: web.Request, query: PageQuery) -> object:
    found = await request.app[SERVICES].notifications.page(
        request[CLAIMS].user_id, offset=query.offset, limit=query.limit)
    return page_view(found, query)


@routes.get("/api/notification/unread-count", summary="How many are unread", response=int)
async def unread_count(request: web.Request) -> object:
    return await request.app[SERVICES].notifications.unread_count(request[CLAIMS].user_id)


@routes.put("/api/notification/read", summary="Mark some of mine read", response=Updated)
async def mark_read(request: web.Request, body: MarkRead) -> object:
    n = await request.app[SERVICES].notifications.mark_read(request[CLAIMS].user_id, body.ids)
    return {"updated": n}


@routes.put("/api/notification/read-all", summary="Mark all of mine read", response=Updated)
async def mark_all_read(request: web.Request) -> object:
    n = await request.app[SERVICES].notifications.mark_all_read(request[CLAIMS].user_id)
    return {"updated": n}


def register_routes(app: web.Application) -> None:
    routes.register(app)
