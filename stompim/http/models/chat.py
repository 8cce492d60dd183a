"""Models of /api/conversation/* and /api/message/*: the cursor-paged lists of chat."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from stompim.http.fields import Bounded, Count, Flag, Id, Text
from stompim.http.models.base import Body, Path, Query, View
from stompim.im.chat import DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT
from stompim.im.conversations import MAX_LIST_LIMIT
from stompim.im.readers import MAX_READERS

# -- requests --------------------------------------------------------------------------


class ConversationListQuery(Query):
    cursor: Text | None = Field(None, description="nextCursor of the previous page")
    limit: Annotated[int, Bounded(1, MAX_LIST_LIMIT)] | None = Field(
        None, description="conversations per page (default 20)"
    )


class HistoryQuery(Query):
    conversation_id: Id
    before_seq: Count | None = Field(None, description="the newest messages before this seq")
    after_seq: Count | None = Field(None, description="alone: the oldest messages after this seq")
    limit: Annotated[int, Bounded(1, MAX_HISTORY_LIMIT)] | None = Field(
        None, description=f"messages per page (default {DEFAULT_HISTORY_LIMIT})"
    )


class ReadMark(Body):
    conversation_id: Id
    seq: Count = Field(description="the last seq read; clamped, never moves back")


class ConversationLookupQuery(Query):
    chat_type: Literal["private", "group"]
    target_id: Id = Field(description="the peer user (private) or the group")


class ConversationMute(Body):
    muted: Flag


class ConversationIdPath(Path):
    conversation_id: Id


class MessageIdPath(Path):
    message_id: Id


# -- responses -------------------------------------------------------------------------


class ChatMessage(View):
    """A stored message, as REST, the STOMP MESSAGE body and replays all show it."""

    id: int
    seq: int = Field(description="position in its conversation")
    conversation_id: int
    chat_type: Literal["private", "group"]
    from_user_id: int
    to_user_id: int | None = Field(None, description="private chat only (absent otherwise)")
    group_id: int | None = Field(None, description="group chat only (absent otherwise)")
    type: Literal["text", "image", "file", "audio", "video", "custom", "system"] = Field(
        description="system: a group event the server wrote (README \"Group events\")"
    )
    content: str = Field(description="empty once recalled")
    extra: dict[str, Any] | None = Field(
        description="media metadata: url, name, size, width, height, duration; a system"
        " message's event: event, operatorId and the event's own fields"
    )
    client_msg_id: str | None
    created_at: int = Field(description="epoch milliseconds")
    status: int = Field(description="0 normal, 1 recalled")
    delivered: bool | None = Field(
        None, description="history of a private chat: a device of the recipient has it "
        "(absent otherwise)"
    )
    read: bool | None = Field(
        None, description="history of a private chat: the recipient read it (absent otherwise)"
    )


class ConversationDraft(View):
    content: str
    updated_at: int


class Conversation(View):
    conversation_id: int
    chat_type: Literal["private", "group"]
    target_id: int = Field(description="the peer user (private) or the group")
    name: str = Field(description="peer nickname or group name")
    avatar: str
    last_message: ChatMessage | None
    last_seq: int
    read_seq: int
    unread_count: int = Field(description="lastSeq - readSeq")
    muted: bool = Field(description="friend do-not-disturb, or the conversation mute")
    updated_at: int = Field(description="epoch milliseconds of the last message")
    pinned: bool = Field(False, description="pinned by the caller: listed first")
    pinned_at: int = Field(0, description="epoch ms it was pinned; 0 = not pinned")
    draft: ConversationDraft | None = Field(None, description="the caller's unsent text")
    peer_read_seq: int | None = Field(
        None, description="private chat only (absent otherwise): how far the peer has read"
    )


class ConversationPage(View):
    """A cursor page: pass nextCursor back as `cursor` while hasMore."""

    items: list[Conversation] = Field(alias="list")
    next_cursor: str | None
    has_more: bool


class ReadMarker(View):
    conversation_id: int
    read_seq: int
    unread_count: int


class ReadersQuery(Query):
    limit: Annotated[int, Bounded(0, MAX_READERS)] | None = Field(
        None, description=f"readers listed by name at most (default {MAX_READERS}; 0: counts only)"
    )


class MessageReader(View):
    user_id: int
    nickname: str
    avatar: str
    read_seq: int = Field(description="how far this member has read")


class MessageReaders(View):
    """Read-by, from the read markers: members who had joined when it was sent, not
    its sender."""

    message_id: int
    conversation_id: int
    seq: int
    member_count: int = Field(description="members who could read it (1 in a private chat)")
    read_count: int
    unread_count: int
    readers: list[MessageReader] = Field(description="by user id, at most `limit`")
    truncated: bool = Field(description="more members read it than are listed")
