"""Routes of issue 16's per-user chat state: message search, delivered marks, drafts,
pinned conversations (the conversation list itself is routes/conversation.py).

Registered before /api/message/* (routes/message.py), so that `search` and `delivered`
are never read as a `{messageId}` of a route added there."""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.models.chat import ConversationIdPath
from stompim.http.models.live import (
    DeliveredMark,
    DeliveredMarker,
    Draft,
    DraftChange,
    MessageSearchPage,
    MessageSearchQuery,
    PinChange,
    PinState,
)
from stompim.im.search import DEFAULT_SEARCH_LIMIT

routes = ApiRoutes("message")


@routes.get(
    "/api/message/search",
    summary="Find messages containing a keyword in the caller's own conversations "
    "(newest first, never recalled ones)",
    response=MessageSearchPage,
)
async def search(request: web.Request, query: MessageSearchQuery) -> object:
    return await request.app[SERVICES].search.find(
        request[CLAIMS].user_id,
        query.keyword,
        conversation_id=query.conversation_id,
        cursor=query.cursor,
        limit=query.limit or DEFAULT_SEARCH_LIMIT,
    )


@routes.post(
    "/api/message/delivered",
    summary="A device of the caller received a private conversation up to seq (for "
    "auto-ack clients; an ACK does the same); tells the sender",
    response=DeliveredMarker,
)
async def delivered(request: web.Request, body: DeliveredMark) -> object:
    seq = await request.app[SERVICES].delivery.mark_delivered(
        request[CLAIMS].user_id, body.conversation_id, body.seq
    )
    return {"conversationId": body.conversation_id, "deliveredSeq": seq}


@routes.get(
    "/api/conversation/drafts",
    summary="The caller's drafts, newest first",
    response=list[Draft],
)
async def drafts(request: web.Request) -> object:
    return await request.app[SERVICES].drafts.drafts(request[CLAIMS].user_id)


@routes.put(
    "/api/conversation/{conversationId}/draft",
    summary="Save (or, empty, clear) the caller's draft; their devices hear a draft event",
    response=Draft,
)
async def save_draft(request: web.Request, path: ConversationIdPath, body: DraftChange) -> object:
    return await request.app[SERVICES].drafts.save_draft(
        request[CLAIMS].user_id, path.conversation_id, body.content
    )


@routes.put(
    "/api/conversation/{conversationId}/pin",
    summary="Pin or unpin a conversation for the caller (pinned ones list first)",
    response=PinState,
)
async def pin(request: web.Request, path: ConversationIdPath, body: PinChange) -> object:
    return await request.app[SERVICES].drafts.set_pinned(
        request[CLAIMS].user_id, path.conversation_id, body.pinned
    )


def register_routes(app: web.Application) -> None:
    routes.register(app)
