"""Models of the routes of stompim.http.routes.live: search, delivered, drafts, pins."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from stompim.http.fields import Bounded, Count, Flag, Id, Text
from stompim.http.models.base import Body, Query, View
from stompim.http.models.chat import ChatMessage
from stompim.im.search import DEFAULT_SEARCH_LIMIT, MAX_KEYWORD, MAX_SEARCH_LIMIT


class MessageSearchQuery(Query):
    keyword: Text = Field(
        description="text to find, case-insensitive; Chinese and other text without spaces "
        "is found by its characters", json_schema_extra={"maxLength": MAX_KEYWORD},
    )
    conversation_id: Id | None = Field(None, description="only this conversation")
    cursor: Text | None = Field(None, description="nextCursor of the previous page")
    limit: Annotated[int, Bounded(1, MAX_SEARCH_LIMIT)] | None = Field(
        None, description=f"default {DEFAULT_SEARCH_LIMIT}, at most {MAX_SEARCH_LIMIT}"
    )


class MessageSearchPage(View):
    """Newest first; pass nextCursor back as `cursor` while hasMore."""

    items: list[ChatMessage] = Field(alias="list")
    next_cursor: str | None
    has_more: bool


class DeliveredMark(Body):
    conversation_id: Id
    seq: Count = Field(description="the last seq a device of the caller received")


class DeliveredMarker(View):
    conversation_id: int
    delivered_seq: int | None = Field(
        description="the seq the sender was told of; null when nothing moved (a group "
        "chat, an older seq, one already read)"
    )


class DraftChange(Body):
    content: Text = Field(description="the unsent text; empty clears the draft")


class Draft(View):
    conversation_id: int
    content: str
    updated_at: int


class PinChange(Body):
    pinned: Flag


class PinState(View):
    conversation_id: int
    pinned: bool
    pinned_at: int = Field(description="epoch ms; 0 when not pinned")
