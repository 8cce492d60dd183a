"""/api/message/*: history paging, read markers, recall.

Sending is STOMP-only (DESIGN.md "A chat message, end to end"): a RECEIPT means stored.
"""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes, Param
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.result import ok
from stompim.http.schema import INT, STR, Schema, arr, nullable, obj, ref, s
from stompim.http.validation import bad, json_body, path_id, query_int, require_int

MESSAGE_SCHEMA: Schema = obj(
    {
        "id": INT,
        "seq": s(INT, description="position in its conversation"),
        "conversationId": INT,
        "chatType": s(STR, enum=["private", "group"]),
        "fromUserId": INT,
        "toUserId": s(INT, description="private chat only"),
        "groupId": s(INT, description="group chat only"),
        "type": s(STR, enum=["text", "image", "file", "audio", "video", "custom"]),
        "content": s(STR, description="empty once recalled"),
        "extra": nullable(
            obj({}, description="media metadata: url, name, size, width, height, duration")
        ),
        "clientMsgId": nullable(STR),
        "createdAt": s(INT, description="epoch ms"),
        "status": s(INT, enum=[0, 1], description="0 normal, 1 recalled"),
    }
)

routes = ApiRoutes("message", components={"ChatMessage": MESSAGE_SCHEMA})


@routes.get(
    "/api/message/history",
    summary="Messages of a conversation by seq, ascending (keyset: beforeSeq / afterSeq)",
    query=(
        Param("conversationId", INT, True),
        Param("beforeSeq", INT, False, "newest messages before this seq"),
        Param("afterSeq", INT, False, "alone: oldest messages after this seq"),
        Param("limit", INT, False, "1..100, default 20"),
    ),
    response=arr(ref("ChatMessage")),
)
async def history(request: web.Request) -> web.Response:
    conversation_id = query_int(request, "conversationId", minimum=1)
    if conversation_id is None:
        raise bad("conversationId: query parameter is required")
    msgs = await request.app[SERVICES].chat.history(
        request[CLAIMS].user_id,
        conversation_id,
        before_seq=query_int(request, "beforeSeq", minimum=0),
        after_seq=query_int(request, "afterSeq", minimum=0),
        limit=query_int(request, "limit", 20, minimum=1, maximum=100) or 20,
    )
    return ok(msgs)


@routes.post(
    "/api/message/read",
    summary="Move the caller's read marker forward (never back); tells other devices and the peer",
    body=obj({"conversationId": INT, "seq": INT}, required=("conversationId", "seq")),
    response=obj({"conversationId": INT, "readSeq": INT, "unreadCount": INT}),
)
async def mark_read(request: web.Request) -> web.Response:
    body = await json_body(request)
    result = await request.app[SERVICES].chat.conversations.mark_read(
        request[CLAIMS].user_id, require_int(body, "conversationId"), require_int(body, "seq")
    )
    return ok(
        {
            "conversationId": result.conversation_id,
            "readSeq": result.read_seq,
            "unreadCount": result.unread,
        }
    )


@routes.post(
    "/api/message/{messageId}/recall",
    summary="Recall a message (sender within im.recall_window_seconds, or a group owner/admin)",
    path_params=(Param("messageId", INT, True),),
    response=ref("ChatMessage"),
)
async def recall(request: web.Request) -> web.Response:
    message = await request.app[SERVICES].chat.recall(
        request[CLAIMS].user_id, path_id(request, "messageId")
    )
    return ok(message)


def register_routes(app: web.Application) -> None:
    routes.register(app)
