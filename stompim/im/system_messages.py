"""System messages: what happened to a group, written into its conversation.

A group event (a join, a kick, a rename, a pinned message, ...) becomes a message of
`type: "system"` in the group's conversation: it gets its own `seq`, is delivered
live on `/topic/chat/<groupId>` like a chat message, is replayed by `x-since-seq` and
paged by history, in order with the chat. Its `content` is a readable line ("Alice
removed Bob") for a client that shows only text; its `extra` is the structured event
a client renders itself:

    {"event": "member_kicked", "operatorId": 1, "userIds": [7], ...}

`event` names what happened (the `GroupEvent` values below, or any other lower_snake
name a caller posts), `operatorId` who did it (also the message's `fromUserId`); the
other keys depend on the event (README "Group events" lists each one).

API (one call):

    await timeline.post(group_id, actor_id, "member_kicked", "Alice removed Bob",
                        userIds=[bob_id])

`SystemMessages.post` stores and publishes, then returns the stored MessageRecord; it
raises what a send raises (Unavailable when the database is down). Call it after the
change it reports is committed. Messages go through the chat send queue
(ChatService.post_system), so a system message and the chat messages around it keep
one order in seq and on the wire. Clients cannot send `type: "system"` themselves
(stompim.im.messages.MESSAGE_TYPES does not list it).

System messages count as unread like any message (the unread count is
`last_seq - read_seq`, never per-message rows).

`NoSystemMessages` posts nothing: the default of services built without chat (tools,
tests of a single service).
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

from stompim.store.records import MessageDraft, MessageRecord

__all__ = ["SYSTEM_TYPE", "GroupEvent", "NoSystemMessages", "SystemMessages", "Timeline"]

SYSTEM_TYPE = "system"
"""The `type` of every system message."""


class GroupEvent(enum.StrEnum):
    """The `extra.event` of the group system messages this package writes."""

    MEMBER_JOINED = "member_joined"  #: userIds, via (invitation|application|link|open)
    MEMBER_LEFT = "member_left"  #: userIds (the one who left)
    MEMBER_KICKED = "member_kicked"  #: userIds (the one removed)
    ROLE_CHANGED = "role_changed"  #: userIds, role ("admin" | "member")
    OWNER_TRANSFERRED = "owner_transferred"  #: userIds (the new owner), previousOwnerId
    GROUP_RENAMED = "group_renamed"  #: name, previousName
    ANNOUNCEMENT_CHANGED = "announcement_changed"  #: announcement
    MEMBER_MUTED = "member_muted"  #: userIds, minutes, mutedUntil (0 when lifted)
    ALL_MUTED = "all_muted"  #: muted (bool)
    JOIN_POLICY_CHANGED = "join_policy_changed"  #: joinPolicy


class SystemPoster(Protocol):
    """What SystemMessages needs from chat (ChatService.post_system)."""

    async def post_system(
        self, group_id: int, actor_id: int, draft: MessageDraft
    ) -> MessageRecord: ...


class Timeline(Protocol):
    """What services that report group events are handed."""

    async def post(
        self, group_id: int, actor_id: int, event: str, text: str, **fields: Any
    ) -> MessageRecord | None:
        """Store and publish a system message; None when this timeline posts nothing."""
        ...


class SystemMessages:
    """Posts system messages into group conversations through chat's send queue."""

    def __init__(self, chat: SystemPoster) -> None:
        self._chat = chat

    async def post(
        self, group_id: int, actor_id: int, event: str, text: str, **fields: Any
    ) -> MessageRecord:
        """`fields`: the event's own keys (camelCase, JSON values); `event` and
        `operatorId` are added and win over keys of the same name."""
        extra = {**fields, "event": str(event), "operatorId": actor_id}
        draft = MessageDraft(type=SYSTEM_TYPE, content=text, extra=extra, client_msg_id=None)
        return await self._chat.post_system(group_id, actor_id, draft)


class NoSystemMessages:
    """A Timeline that posts nothing."""

    async def post(
        self, group_id: int, actor_id: int, event: str, text: str, **fields: Any
    ) -> MessageRecord | None:
        return None
