"""Models of GET /api/message/search (stompim.im.search)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from stompim.http.fields import Bounded, Id, Text
from stompim.http.models.base import Query, View
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
