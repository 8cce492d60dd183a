"""Values the store hands out and takes in for chat, shared with the domain above it.

They live here, at the bottom, because the repositories build and read them; the IM
domain (stompim.im.messages) re-exports them as its own vocabulary and adds the rules
(what a client may send, the JSON every consumer sees).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChatType", "MessageDraft", "MessageRecord", "MessageStatus"]


class ChatType(enum.IntEnum):
    """Stored as TINYINT in conversations and messages; the JSON uses the name."""

    PRIVATE = 1  # a pair of users
    GROUP = 2  # a group's one conversation

    @property
    def label(self) -> str:
        return "private" if self is ChatType.PRIVATE else "group"


class MessageStatus(enum.IntEnum):
    NORMAL = 0
    RECALLED = 1  # content cleared in the store; shown as recalled everywhere


@dataclass(frozen=True)
class MessageDraft:
    """A validated message, before it has an id or a seq."""

    type: str
    content: str
    extra: dict[str, Any] | None
    client_msg_id: str | None
    file_id: int | None = None  # an uploaded file (media types); resolved by the batch
    # timeline references, resolved by the batch (stompim.im.timeline_refs)
    reply_to: int | None = None  # a message of the same conversation, quoted in extra.reply
    forward_from: int | None = None  # a message the sender may read, copied with extra.forward
    mentions: tuple[int, ...] = ()  # group members mentioned (extra.mentions.userIds)
    mention_all: bool = False  # @all (extra.mentions.all)


@dataclass(frozen=True)
class MessageRecord:
    id: int
    conversation_id: int
    seq: int
    sender_id: int
    chat_type: ChatType
    target_id: int  # the receiving user (private) or the group
    type: str
    content: str
    extra: dict[str, Any] | None
    client_msg_id: str | None
    status: MessageStatus
    created_at: int  # epoch ms
    edited_at: int | None = None  # epoch ms of the last edit; None if never edited
    # Private messages: the place of the message in the sender's and in the recipient's
    # inbox (stompim.store.messages); 0 where unknown (group messages, history reads).
    # Not part of equality: the same message read another way is still the same.
    sender_inbox_seq: int = field(default=0, compare=False)
    target_inbox_seq: int = field(default=0, compare=False)

    def inbox_seq(self, user_id: int) -> int:
        """The message's place in `user_id`'s private inbox (0: unknown or none)."""
        if user_id == self.target_id:
            return self.target_inbox_seq
        return self.sender_inbox_seq if user_id == self.sender_id else 0

    @property
    def recalled(self) -> bool:
        return self.status is MessageStatus.RECALLED
