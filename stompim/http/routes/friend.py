"""/api/friend/*: requests, friend list (remark, mute), delete, blacklist, and the
internal check-blocked endpoint for other services.

check-blocked is registered public (no JWT) but answers only with the configured
shared secret in `X-Internal-Secret` (auth.internal_secret; empty disables it):
compared with hmac.compare_digest, refused with 403 otherwise.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from stompim.http.api import ApiRoutes
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.models.friend import (
    BlockedUser,
    BlockState,
    CheckBlockedQuery,
    Friend,
    FriendIdPath,
    FriendRequest,
    InternalSecret,
    MuteChange,
    ReceivedFriendRequest,
    RemarkChange,
    RequestIdPath,
    SendFriendRequest,
    SentFriendRequest,
    UserIdPath,
)
from stompim.http.paging import Page, PageQuery, page_view
from stompim.im.errors import FORBIDDEN, ImError

routes = ApiRoutes("friend")


def _me(request: web.Request) -> int:
    return request[CLAIMS].user_id


@routes.post(
    "/api/friend/request",
    summary="Send a friend request (accepts theirs if they already asked you)",
    response=FriendRequest,
)
async def send_request(request: web.Request, body: SendFriendRequest) -> object:
    return await request.app[SERVICES].friends.send_request(
        _me(request), body.to_user_id, body.message or ""
    )


@routes.get("/api/friend/request/received", summary="Requests sent to me, newest first",
            response=Page[ReceivedFriendRequest])
async def received(request: web.Request, query: PageQuery) -> object:
    page = await request.app[SERVICES].friends.received_requests(
        _me(request), offset=query.offset, limit=query.limit)
    return page_view(page, query)


@routes.get("/api/friend/request/sent", summary="Requests I sent, newest first",
            response=Page[SentFriendRequest])
async def sent(request: web.Request, query: PageQuery) -> object:
    page = await request.app[SERVICES].friends.sent_requests(
        _me(request), offset=query.offset, limit=query.limit)
    return page_view(page, query)


@routes.post("/api/friend/request/{requestId}/accept", summary="Accept a request sent to me",
             response=FriendRequest)
async def accept(request: web.Request, path: RequestIdPath) -> object:
    return await request.app[SERVICES].friends.accept(_me(request), path.request_id)


@routes.post("/api/friend/request/{requestId}/reject", summary="Reject a request sent to me",
             response=FriendRequest)
async def reject(request: web.Request, path: RequestIdPath) -> object:
    return await request.app[SERVICES].friends.reject(_me(request), path.request_id)


@routes.get("/api/friend/list", summary="My friends with remark, mute flag and profile",
            response=list[Friend])
async def friend_list(request: web.Request) -> object:
    return await request.app[SERVICES].friends.list_friends(_me(request))


@routes.get("/api/friend/blacklist", summary="Users I blocked", response=Page[BlockedUser])
async def blacklist(request: web.Request, query: PageQuery) -> object:
    page = await request.app[SERVICES].friends.blacklist(
        _me(request), offset=query.offset, limit=query.limit)
    return page_view(page, query)


@routes.post("/api/friend/blacklist/{userId}",
             summary="Block a user: no requests or private messages between us")
async def block(request: web.Request, path: UserIdPath) -> object:
    await request.app[SERVICES].friends.block(_me(request), path.user_id)
    return None


@routes.delete("/api/friend/blacklist/{userId}", summary="Unblock a user")
async def unblock(request: web.Request, path: UserIdPath) -> object:
    await request.app[SERVICES].friends.unblock(_me(request), path.user_id)
    return None


@routes.get(
    "/api/friend/internal/check-blocked",
    summary="For other services: block state between two users (needs X-Internal-Secret)",
    public=True,
    response=BlockState,
)
async def check_blocked(
    request: web.Request, headers: InternalSecret, query: CheckBlockedQuery
) -> object:
    services = request.app[SERVICES]
    secret = services.config.auth.internal_secret
    if not secret or not hmac.compare_digest(headers.secret.encode(), secret.encode()):
        raise ImError(FORBIDDEN, "internal endpoint", 403)
    a = await services.friends.is_blocked(query.user_id, query.target_id)
    b = await services.friends.is_blocked(query.target_id, query.user_id)
    return {"blocked": a or b, "userBlockedTarget": a, "targetBlockedUser": b}


@routes.delete("/api/friend/{friendId}", summary="Delete a friend (both directions)")
async def delete_friend(request: web.Request, path: FriendIdPath) -> object:
    await request.app[SERVICES].friends.delete_friend(_me(request), path.friend_id)
    return None


@routes.put("/api/friend/{friendId}/remark", summary="Set my remark for a friend")
async def set_remark(request: web.Request, path: FriendIdPath, body: RemarkChange) -> object:
    await request.app[SERVICES].friends.set_remark(_me(request), path.friend_id, body.remark or "")
    return None


@routes.put("/api/friend/{friendId}/mute", summary="Do-not-disturb for a friend")
async def set_mute(request: web.Request, path: FriendIdPath, body: MuteChange) -> object:
    await request.app[SERVICES].friends.set_muted(_me(request), path.friend_id, body.muted)
    return None


def register_routes(app: web.Application) -> None:
    routes.register(app)
