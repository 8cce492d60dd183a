"""/api/conversation/*: the caller's conversation list, lookup, unread total, hide, mute."""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.models.chat import (
    Conversation,
    ConversationIdPath,
    ConversationListQuery,
    ConversationLookupQuery,
    ConversationMute,
    ConversationPage,
)

routes = ApiRoutes("conversation")


@routes.get(
    "/api/conversation/list",
    summary="The caller's conversations, pinned ones first, then newest activity first "
    "(cursor-paged)",
    response=ConversationPage,
)
async def conversation_list(request: web.Request, query: ConversationListQuery) -> object:
    return await request.app[SERVICES].drafts.list(  # with pins and drafts
        request[CLAIMS].user_id, cursor=query.cursor, limit=query.limit or 20
    )


@routes.get(
    "/api/conversation/lookup",
    summary="The conversation with a user or of a group, as the list shows it (3005: none yet)",
    response=Conversation,
)
async def lookup(request: web.Request, query: ConversationLookupQuery) -> object:
    return await request.app[SERVICES].chat.conversations.lookup(
        request[CLAIMS].user_id, query.chat_type, query.target_id
    )


@routes.get(
    "/api/conversation/unread-total",
    summary="Unread messages over all conversations that are not muted",
    response=int,
)
async def unread_total(request: web.Request) -> object:
    return await request.app[SERVICES].chat.conversations.unread_total(request[CLAIMS].user_id)


@routes.delete(
    "/api/conversation/{conversationId}",
    summary="Hide a conversation for the caller (it reappears with the next message)",
)
async def hide(request: web.Request, path: ConversationIdPath) -> object:
    await request.app[SERVICES].chat.conversations.hide(
        request[CLAIMS].user_id, path.conversation_id
    )
    return None


@routes.put(
    "/api/conversation/{conversationId}/mute",
    summary="Do-not-disturb for one conversation (excluded from unread-total)",
)
async def mute(request: web.Request, path: ConversationIdPath, body: ConversationMute) -> object:
    await request.app[SERVICES].chat.conversations.set_muted(
        request[CLAIMS].user_id, path.conversation_id, body.muted
    )
    return None


def register_routes(app: web.Application) -> None:
    routes.register(app)
