"""/api/message/{id}/edit|reactions|pin, /api/message/delete, /api/conversation/{id}/clear,
/api/group/{id}/pins: what members do to sent messages (stompim.im.message_actions).

Replies, forwards and mentions are part of a send, so they travel with the STOMP SEND
(`replyTo`, `forwardFrom`, `mentions` in the JSON body); see README "Replies, edits,
reactions".
"""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.models.chat import ChatMessage, ConversationIdPath, MessageIdPath
from stompim.http.models.group import GroupIdPath
from stompim.http.models.timeline import (
    Cleared,
    Deleted,
    DeleteForMe,
    MessageEdit,
    PinnedMessage,
    PinState,
    ReactionBody,
    ReactionQuery,
    Reactions,
)

routes = ApiRoutes("timeline")


@routes.post(
    "/api/message/{messageId}/edit",
    summary="Edit a text message (its sender, within im.edit_window_seconds; 3010 after)",
    response=ChatMessage,
)
async def edit(request: web.Request, path: MessageIdPath, body: MessageEdit) -> object:
    return await request.app[SERVICES].chat.message_actions.edit(
        request[CLAIMS].user_id, path.message_id, body.content
    )


@routes.post(
    "/api/message/{messageId}/reactions",
    summary="Add the caller's emoji reaction to a message; every participant hears it",
    response=Reactions,
)
async def react(request: web.Request, path: MessageIdPath, body: ReactionBody) -> object:
    return await request.app[SERVICES].chat.message_actions.react(
        request[CLAIMS].user_id, path.message_id, body.emoji, True
    )


@routes.delete(
    "/api/message/{messageId}/reactions",
    summary="Take back the caller's emoji reaction (?emoji=)",
    response=Reactions,
)
async def unreact(request: web.Request, path: MessageIdPath, query: ReactionQuery) -> object:
    return await request.app[SERVICES].chat.message_actions.react(
        request[CLAIMS].user_id, path.message_id, query.emoji, False
    )


@routes.post(
    "/api/message/delete",
    summary="Delete messages for the caller only (others keep them); the caller's devices hear it",
    response=Deleted,
)
async def delete_for_me(request: web.Request, body: DeleteForMe) -> object:
    deleted = await request.app[SERVICES].chat.message_actions.delete_for_me(
        request[CLAIMS].user_id, body.message_ids
    )
    return {"deleted": deleted}


@routes.post(
    "/api/conversation/{conversationId}/clear",
    summary="Clear the caller's history of a conversation (others keep theirs)",
    response=Cleared,
)
async def clear(request: web.Request, path: ConversationIdPath) -> object:
    return await request.app[SERVICES].chat.message_actions.clear(
        request[CLAIMS].user_id, path.conversation_id
    )


@routes.post(
    "/api/message/{messageId}/pin",
    summary="Pin a group message (owner or admin); members hear a pin event",
    response=PinState,
)
async def pin(request: web.Request, path: MessageIdPath) -> object:
    return await request.app[SERVICES].chat.message_actions.pin(
        request[CLAIMS].user_id, path.message_id, True
    )


@routes.delete(
    "/api/message/{messageId}/pin",
    summary="Unpin a group message (owner or admin)",
    response=PinState,
)
async def unpin(request: web.Request, path: MessageIdPath) -> object:
    return await request.app[SERVICES].chat.message_actions.pin(
        request[CLAIMS].user_id, path.message_id, False
    )


@routes.get(
    "/api/group/{groupId}/pins",
    summary="The group's pinned messages, newest pin first (members)",
    response=list[PinnedMessage],
)
async def pins(request: web.Request, path: GroupIdPath) -> object:
    return await request.app[SERVICES].chat.message_actions.pins(
        request[CLAIMS].user_id, path.group_id
    )


def register_routes(app: web.Application) -> None:
    routes.register(app)
