"""/api/friend/*: requests, friend list (remark, mute), delete, blacklist, and the
internal check-blocked endpoint for other services.

check-blocked is registered public (no JWT) but answers only with the configured
shared secret in `X-Internal-Secret` (auth.internal_secret; empty disables it):
compared with hmac.compare_digest, refused with 403 otherwise.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from stompim.http.api import ApiRoutes, Param
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.result import ok
from stompim.http.schema import BOOL, INT, STR, arr, obj, ref, s
from stompim.http.validation import (
    bad,
    json_body,
    optional_str,
    path_id,
    query_int,
    require_bool,
    require_int,
)
from stompim.im.errors import FORBIDDEN, ImError

INTERNAL_SECRET_HEADER = "X-Internal-Secret"

_SUMMARY = obj({"id": INT, "username": STR, "nickname": STR, "avatar": STR})
_REQUEST = obj(
    {
        "id": INT,
        "fromUserId": INT,
        "toUserId": INT,
        "message": STR,
        "status": s(INT, enum=[0, 1, 2], description="0 pending, 1 accepted, 2 rejected"),
        "createdAt": INT,
        "updatedAt": INT,
        "fromUser": ref("UserSummary"),
        "toUser": ref("UserSummary"),
    }
)
_FRIEND = obj(
    {
        "friendId": INT, "username": STR, "nickname": STR, "avatar": STR, "signature": STR,
        "remark": STR, "muted": BOOL, "createdAt": INT,
    }
)

routes = ApiRoutes(
    "friend",
    components={"UserSummary": _SUMMARY, "FriendRequest": _REQUEST, "Friend": _FRIEND},
)
_ID = (Param("requestId", INT, True),)
_FID = (Param("friendId", INT, True),)
_UID = (Param("userId", INT, True),)


def _positive(value: int, name: str) -> int:
    if value <= 0:
        raise bad(f"{name}: must be a positive integer")
    return value


@routes.post(
    "/api/friend/request",
    summary="Send a friend request (accepts theirs if they already asked you)",
    body=obj({"toUserId": INT, "message": s(STR, maxLength=255)}, required=("toUserId",)),
    response=ref("FriendRequest"),
)
async def send_request(request: web.Request) -> web.Response:
    body = await json_body(request)
    to_id = _positive(require_int(body, "toUserId"), "toUserId")
    message = optional_str(body, "message", max_len=255) or ""
    return ok(await request.app[SERVICES].friends.send_request(
        request[CLAIMS].user_id, to_id, message))


@routes.get("/api/friend/request/received", summary="Requests sent to me, newest first",
            response=arr(ref("FriendRequest")))
async def received(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].friends.received_requests(request[CLAIMS].user_id))


@routes.get("/api/friend/request/sent", summary="Requests I sent, newest first",
            response=arr(ref("FriendRequest")))
async def sent(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].friends.sent_requests(request[CLAIMS].user_id))


@routes.post("/api/friend/request/{requestId}/accept", summary="Accept a request sent to me",
             path_params=_ID, response=ref("FriendRequest"))
async def accept(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].friends.accept(
        request[CLAIMS].user_id, path_id(request, "requestId")))


@routes.post("/api/friend/request/{requestId}/reject", summary="Reject a request sent to me",
             path_params=_ID, response=ref("FriendRequest"))
async def reject(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].friends.reject(
        request[CLAIMS].user_id, path_id(request, "requestId")))


@routes.get("/api/friend/list", summary="My friends with remark, mute flag and profile",
            response=arr(ref("Friend")))
async def friend_list(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].friends.list_friends(request[CLAIMS].user_id))


@routes.get("/api/friend/blacklist", summary="Users I blocked",
            response=arr(obj({"userId": INT, "blockedAt": INT, "user": ref("UserSummary")})))
async def blacklist(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].friends.blacklist(request[CLAIMS].user_id))


@routes.post("/api/friend/blacklist/{userId}",
             summary="Block a user: no requests or private messages between us", path_params=_UID)
async def block(request: web.Request) -> web.Response:
    await request.app[SERVICES].friends.block(request[CLAIMS].user_id, path_id(request, "userId"))
    return ok()


@routes.delete("/api/friend/blacklist/{userId}", summary="Unblock a user", path_params=_UID)
async def unblock(request: web.Request) -> web.Response:
    await request.app[SERVICES].friends.unblock(request[CLAIMS].user_id, path_id(request, "userId"))
    return ok()


@routes.get(
    "/api/friend/internal/check-blocked",
    summary="For other services: block state between two users (needs X-Internal-Secret)",
    public=True,
    query=(Param("userId", INT, True), Param("targetId", INT, True)),
    headers=(Param(INTERNAL_SECRET_HEADER, STR, True),),
    response=obj({
        "blocked": s(BOOL, description="either user blocked the other"),
        "userBlockedTarget": BOOL,
        "targetBlockedUser": BOOL,
    }),
)
async def check_blocked(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    secret = services.config.auth.internal_secret
    given = request.headers.get(INTERNAL_SECRET_HEADER, "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        raise ImError(FORBIDDEN, "internal endpoint", 403)
    user_id = query_int(request, "userId", minimum=1, maximum=2**63 - 1)
    target_id = query_int(request, "targetId", minimum=1, maximum=2**63 - 1)
    if user_id is None or target_id is None:
        raise bad("userId and targetId: query parameters are required")
    a = await services.friends.is_blocked(user_id, target_id)
    b = await services.friends.is_blocked(target_id, user_id)
    return ok({"blocked": a or b, "userBlockedTarget": a, "targetBlockedUser": b})


@routes.delete("/api/friend/{friendId}", summary="Delete a friend (both directions)",
               path_params=_FID)
async def delete_friend(request: web.Request) -> web.Response:
    await request.app[SERVICES].friends.delete_friend(
        request[CLAIMS].user_id, path_id(request, "friendId"))
    return ok()


@routes.put("/api/friend/{friendId}/remark", summary="Set my remark for a friend",
            path_params=_FID, body=obj({"remark": s(STR, maxLength=64)}, required=("remark",)))
async def set_remark(request: web.Request) -> web.Response:
    body = await json_body(request)
    remark = optional_str(body, "remark", max_len=64) or ""
    await request.app[SERVICES].friends.set_remark(
        request[CLAIMS].user_id, path_id(request, "friendId"), remark)
    return ok()


@routes.put("/api/friend/{friendId}/mute", summary="Do-not-disturb for a friend",
            path_params=_FID, body=obj({"muted": BOOL}, required=("muted",)))
async def set_mute(request: web.Request) -> web.Response:
    body = await json_body(request)
    await request.app[SERVICES].friends.set_muted(
        request[CLAIMS].user_id, path_id(request, "friendId"), require_bool(body, "muted"))
    return ok()


def register_routes(app: web.Application) -> None:
    routes.register(app)
