"""/api/message/*: history paging, read markers, recall, read-by.

Sending is STOMP-only (DESIGN.md "A chat message, end to end"): a RECEIPT means stored.
"""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.models.chat import (
    ChatMessage,
    HistoryQuery,
    MessageIdPath,
    MessageReaders,
    ReadersQuery,
    ReadMark,
    ReadMarker,
)
from stompim.im.chat import DEFAULT_HISTORY_LIMIT
from stompim.im.readers import MAX_READERS

routes = ApiRoutes("message")


@routes.get(
    "/api/message/history",
    summary="Messages of a conversation by seq, ascending (keyset: beforeSeq / afterSeq)",
    response=list[ChatMessage],
)
async def history(request: web.Request, query: HistoryQuery) -> object:
    services = request.app[SERVICES]
    page = await services.chat.history(
        request[CLAIMS].user_id,
        query.conversation_id,
        before_seq=query.before_seq,
        after_seq=query.after_seq,
        limit=query.limit or DEFAULT_HISTORY_LIMIT,
    )
    await services.delivery.decorate(query.conversation_id, page)  # delivered / read
    return page


@routes.post(
    "/api/message/read",
    summary="Move the caller's read marker forward (never back); tells other devices and the peer",
    response=ReadMarker,
)
async def mark_read(request: web.Request, body: ReadMark) -> object:
    result = await request.app[SERVICES].chat.conversations.mark_read(
        request[CLAIMS].user_id, body.conversation_id, body.seq
    )
    return {
        "conversationId": result.conversation_id,
        "readSeq": result.read_seq,
        "unreadCount": result.unread,
    }


@routes.post(
    "/api/message/{messageId}/recall",
    summary="Recall a message (sender within im.recall_window_seconds, or a group owner/admin)",
    response=ChatMessage,
)
async def recall(request: web.Request, path: MessageIdPath) -> object:
    return await request.app[SERVICES].chat.recall(request[CLAIMS].user_id, path.message_id)


@routes.get(
    "/api/message/{messageId}/readers",
    summary="Who has read a message (from read markers): counts, and readers by name",
    response=MessageReaders,
)
async def readers(request: web.Request, path: MessageIdPath, query: ReadersQuery) -> object:
    return await request.app[SERVICES].readers.readers(
        request[CLAIMS].user_id, path.message_id,
        limit=MAX_READERS if query.limit is None else query.limit,
    )


def register_routes(app: web.Application) -> None:
    routes.register(app)
