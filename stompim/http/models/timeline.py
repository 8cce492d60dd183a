"""Models of the timeline routes: edit, reactions, delete for me, clear, pins
(stompim.http.routes.timeline; rules in stompim.im.message_actions)."""

from __future__ import annotations

from pydantic import Field

from stompim.http.fields import Id, Text
from stompim.http.models.base import Body, Query, View
from stompim.http.models.chat import ChatMessage, Reaction
from stompim.im.message_actions import MAX_DELETE

# -- requests --------------------------------------------------------------------------


class MessageEdit(Body):
    content: Text = Field(description="the new text (text messages only)")


class ReactionBody(Body):
    emoji: Text = Field(description="an emoji or short code: 1..32 characters, no spaces")


class ReactionQuery(Query):
    emoji: Text = Field(description="the emoji to take back")


class DeleteForMe(Body):
    message_ids: list[Id] = Field(min_length=1, max_length=MAX_DELETE, fail_fast=True)


# -- responses -------------------------------------------------------------------------


class Reactions(View):
    message_id: int
    reactions: list[Reaction]


class Deleted(View):
    deleted: int = Field(description="messages now hidden from the caller")


class Cleared(View):
    conversation_id: int
    cleared_seq: int = Field(description="the caller sees only messages after this seq")


class PinState(View):
    group_id: int
    conversation_id: int
    message_id: int
    seq: int
    pinned: bool
    operator_id: int


class PinnedMessage(View):
    message: ChatMessage
    pinned_by: int
    pinned_at: int = Field(description="epoch milliseconds")
