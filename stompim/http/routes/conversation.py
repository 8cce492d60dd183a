"""/api/conversation/*: the caller's conversation list, unread total, hide, mute."""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes, Param
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.result import ok
from stompim.http.routes.message import MESSAGE_SCHEMA
from stompim.http.schema import BOOL, INT, STR, arr, nullable, obj, ref, s
from stompim.http.validation import json_body, path_id, query_int, query_str, require_bool

routes = ApiRoutes(
    "conversation",
    components={
        "Conversation": obj(
            {
                "conversationId": INT,
                "chatType": s(STR, enum=["private", "group"]),
                "targetId": s(INT, description="the peer user (private) or the group"),
                "name": s(STR, description="peer nickname or group name"),
                "avatar": STR,
                "lastMessage": nullable(ref("ChatMessage")),
                "lastSeq": INT,
                "readSeq": INT,
                "unreadCount": s(INT, description="lastSeq - readSeq"),
                "muted": s(BOOL, description="friend do-not-disturb, or the conversation mute"),
                "updatedAt": s(INT, description="epoch ms of the last message"),
            }
        ),
        "ChatMessage": MESSAGE_SCHEMA,
    },
)

_ID = (Param("conversationId", INT, True),)


@routes.get(
    "/api/conversation/list",
    summary="The caller's conversations, newest activity first (keyset paging)",
    query=(
        Param("cursor", STR, False, "nextCursor of the previous page"),
        Param("limit", INT, False, "1..100, default 20"),
    ),
    response=obj({"list": arr(ref("Conversation")), "nextCursor": nullable(STR), "hasMore": BOOL}),
)
async def conversation_list(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 20, minimum=1, maximum=100)
    page = await request.app[SERVICES].chat.conversations.list(
        request[CLAIMS].user_id, cursor=query_str(request, "cursor"), limit=limit or 20
    )
    return ok(page)


@routes.get(
    "/api/conversation/unread-total",
    summary="Unread messages over all conversations that are not muted",
    response=INT,
)
async def unread_total(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].chat.conversations.unread_total(request[CLAIMS].user_id))


@routes.delete(
    "/api/conversation/{conversationId}",
    summary="Hide a conversation for the caller (it reappears with the next message)",
    path_params=_ID,
)
async def hide(request: web.Request) -> web.Response:
    await request.app[SERVICES].chat.conversations.hide(
        request[CLAIMS].user_id, path_id(request, "conversationId")
    )
    return ok(None)


@routes.put(
    "/api/conversation/{conversationId}/mute",
    summary="Do-not-disturb for one conversation (excluded from unread-total)",
    path_params=_ID,
    body=obj({"muted": BOOL}, required=("muted",)),
)
async def mute(request: web.Request) -> web.Response:
    body = await json_body(request)
    await request.app[SERVICES].chat.conversations.set_muted(
        request[CLAIMS].user_id, path_id(request, "conversationId"), require_bool(body, "muted")
    )
    return ok(None)


def register_routes(app: web.Application) -> None:
    routes.register(app)
