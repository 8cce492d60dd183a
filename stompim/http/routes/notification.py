"""/api/notification: the notification center (paged list, unread count, mark read)."""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes, Param
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.result import ok
from stompim.http.schema import BOOL, INT, STR, arr, obj, ref, s
from stompim.http.validation import int_list, json_body, query_int
from stompim.im.notifications import MAX_PAGE_SIZE, NotificationType

_NOTIFICATION = obj(
    {
        "id": INT,
        "userId": INT,
        "type": s(STR, enum=[t.value for t in NotificationType]),
        "message": STR,
        "extra": obj({}, description="event details (groupId, requestId, ...)"),
        "read": BOOL,
        "createdAt": s(INT, description="epoch milliseconds"),
    }
)
routes = ApiRoutes("notification", components={"Notification": _NOTIFICATION})


@routes.get(
    "/api/notification",
    summary="My notifications, newest first",
    query=(Param("page", INT, False, "from 1 (default 1)"),
           Param("size", INT, False, f"1..{MAX_PAGE_SIZE} (default 20)")),
    response=obj({"list": arr(ref("Notification")), "total": INT, "page": INT, "size": INT}),
)
async def page(request: web.Request) -> web.Response:
    number = query_int(request, "page", 1, minimum=1, maximum=1_000_000)
    size = query_int(request, "size", 20, minimum=1, maximum=MAX_PAGE_SIZE)
    assert number is not None and size is not None
    return ok(await request.app[SERVICES].notifications.page(request[CLAIMS].user_id, number, size))


@routes.get("/api/notification/unread-count", summary="How many are unread", response=INT)
async def unread_count(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].notifications.unread_count(request[CLAIMS].user_id))


@routes.put("/api/notification/read", summary="Mark some of mine read",
            body=obj({"ids": arr(INT)}, required=("ids",)),
            response=obj({"updated": INT}))
async def mark_read(request: web.Request) -> web.Response:
    ids = int_list(await json_body(request), "ids", max_items=500)
    n = await request.app[SERVICES].notifications.mark_read(request[CLAIMS].user_id, ids)
    return ok({"updated": n})


@routes.put("/api/notification/read-all", summary="Mark all of mine read",
            response=obj({"updated": INT}))
async def mark_all_read(request: web.Request) -> web.Response:
    n = await request.app[SERVICES].notifications.mark_all_read(request[CLAIMS].user_id)
    return ok({"updated": n})


def register_routes(app: web.Application) -> None:
    routes.register(app)
