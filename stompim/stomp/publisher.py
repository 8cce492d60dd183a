"""The domain's Publisher (stompim.im.publisher) rendered in STOMP: destinations,
MESSAGE headers and bodies, handed to the broker's server-side publishing.

`StompPublisher(broker.publisher)` is what app.py gives the IM services. Each domain
event becomes MESSAGE frames on the destinations of stompim.stomp.destinations; the
broker delivers them on this node at once and queues them for the cluster bridge (never
awaiting Redis), so the domain's contract holds: a call returns once local delivery is
done. Event calls never raise: a failure is logged once per interval (the change is
stored; clients catch up by history or resume).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import orjson

from stompim.im.messages import ChatType, MessageRecord, message_bytes
from stompim.im.typing_signals import TypingEvent
from stompim.rate_limited_log import RateLimitedLog
from stompim.stomp.destinations import (
    chat_destinations,
    chat_queue,
    event_headers,
    group_topic,
    message_headers,
    notification_queue,
)

__all__ = ["ServerPublishing", "StompPublisher"]

log = logging.getLogger(__name__)
_quiet = RateLimitedLog(log)
_JSON = {"content-type": "application/json"}


class ServerPublishing(Protocol):
    """What the broker offers server-side code (stompim.broker.BrokerPublisher)."""

    async def publish(
        self, destination: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None: ...

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None: ...

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None: ...


class StompPublisher:
    """Implements stompim.im.publisher.Publisher over the broker."""

    def __init__(self, out: ServerPublishing) -> None:
        self._out = out

    async def _publish(self, destination: str, body: bytes, headers: Mapping[str, str]) -> None:
        try:
            await self._out.publish(destination, body, headers)
        except Exception as exc:
            _quiet.exception(("publish", type(exc)), "publishing to %s failed", destination)

    async def message_stored(self, message: MessageRecord) -> None:
        body = message_bytes(message)
        for destination in chat_destinations(message):
            await self._publish(destination, body, message_headers(message, destination))

    async def message_recalled(self, message: MessageRecord, operator_id: int) -> None:
        body = orjson.dumps(
            {
                "event": "recall",
                "messageId": message.id,
                "conversationId": message.conversation_id,
                "seq": message.seq,
                "operatorId": operator_id,
            }
        )
        headers = event_headers("recall", message.conversation_id)
        headers["x-message-id"] = str(message.id)
        for destination in chat_destinations(message):
            await self._publish(destination, body, headers)

    async def read_advanced(
        self, conversation_id: int, reader_id: int, seq: int, audience: Sequence[int]
    ) -> None:
        body = orjson.dumps(
            {"event": "read", "conversationId": conversation_id, "userId": reader_id, "seq": seq}
        )
        headers = event_headers("read", conversation_id)
        for user_id in audience:
            await self._publish(chat_queue(user_id), body, headers)

    async def delivered(
        self, conversation_id: int, recipient_id: int, seq: int, audience: list[int]
    ) -> None:
        body = orjson.dumps({"event": "delivered", "conversationId": conversation_id,
                             "userId": recipient_id, "seq": seq})
        headers = event_headers("delivered", conversation_id)
        for user_id in audience:
            await self._publish(chat_queue(user_id), body, headers)

    async def own_event(
        self, user_id: int, conversation_id: int, event: dict[str, Any]
    ) -> None:
        headers = event_headers(str(event["event"]), conversation_id)
        await self._publish(chat_queue(user_id), orjson.dumps(event), headers)

    async def typing(self, event: TypingEvent) -> None:
        """Private: the peer's chat queue; group: the group's chat topic (its members
        online; the typist's own devices hear it too and skip their own `userId`)."""
        if event.chat_type is ChatType.GROUP:
            destination = group_topic(event.target_id)
        else:
            destination = chat_queue(event.target_id)
        headers = event_headers("typing", event.conversation_id)
        await self._publish(destination, orjson.dumps(event.body()), headers)

    async def presence(
        self, user_id: int, audience: Iterable[int], event: dict[str, Any]
    ) -> None:
        body = orjson.dumps(event)
        headers = {"x-event": "presence", "content-type": "application/json"}
        for friend_id in audience:
            await self._publish(notification_queue(friend_id), body, headers)

    async def read_count(self, message: MessageRecord, read_count: int, member_count: int) -> None:
        body = orjson.dumps(
            {
                "event": "read_count",
                "messageId": message.id,
                "conversationId": message.conversation_id,
                "groupId": message.target_id,
                "seq": message.seq,
                "readCount": read_count,
                "memberCount": member_count,
            }
        )
        headers = event_headers("read_count", message.conversation_id)
        headers["x-message-id"] = str(message.id)
        await self._publish(chat_queue(message.sender_id), body, headers)

    async def notification(self, user_id: int, notification: Mapping[str, Any]) -> None:
        await self._publish(notification_queue(user_id), orjson.dumps(notification), _JSON)

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        await self._out.close_user_sessions(user_id, reason, token_id)

    async def left_group(self, user_id: int, group_id: int, reason: str) -> None:
        await self._out.end_subscriptions(user_id, group_topic(group_id), reason)
