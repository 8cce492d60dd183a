"""The broker's DestinationHandler for chat: /queue/chat/*, /topic/chat/*, /app/chat/*.

Registered by app.py: `broker.add_handler(ChatDestinationHandler(services))` (the
ImServices container or its `.chat` ChatService). Principals are
duck-typed: anything with an int `.user_id`, so `im` does not import `broker`.

SEND (on_send): `/queue/chat/<userId>` and `/topic/chat/<groupId>` name the target
in the destination; `/app/chat/private` (body `toUserId`, alias `receiverId` /
`targetId`) and `/app/chat/group` (body `groupId`, alias `targetId`) name it in
the JSON body, as a Spring @MessageMapping front end sends it. A body that is not
JSON is taken as the content of a text message on the first two. The returned
RECEIPT headers (`message-id`, `seq`, `conversation-id`, plus `x-duplicate: true`
for a resent client message id) are produced only after the row is committed.
Business refusals raise ImError (the broker sends them to /user/queue/errors).
MESSAGE frames carry `message-id` (the stored id; also as `x-message-id`), `seq`,
`x-conversation-seq`, `conversation-id` and `content-type: application/json` (see
ChatService.message_headers). Events (recall) keep a broker-made `message-id` and
name the message in `x-message-id`.

SUBSCRIBE: `/queue/chat/<uid>` only by that user; `/topic/chat/<gid>` only by an
active member (4001/4002 otherwise). `/app/chat/*` cannot be subscribed.

Resume (replay for `x-since-seq:<n>`), chosen so the broker can order and
de-duplicate by the `seq` header of one destination:
  * `/topic/chat/<gid>`: n is the group conversation's seq; messages with seq > n.
  * `/queue/chat/<uid>` (also reached as `/user/queue/chat`): every private
    conversation of the user is multiplexed here, so a per-conversation seq would
    be ambiguous. On this destination the `seq` header is the message id (global,
    auto-increment, monotonic) and n is the last such value the client saw: the
    replay is all the user's private messages, sent or received, with id > n.
    (`x-conversation-seq` and the body's `seq` keep the conversation's own seq.)
At most `replay_limit` messages are replayed; older gaps are filled by history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson

from stompim.im.chat import ChatService, SendResult
from stompim.im.errors import BAD_REQUEST, FORBIDDEN, ImError
from stompim.im.messages import parse_draft, target_from

QUEUE_PREFIX = "/queue/chat/"
TOPIC_PREFIX = "/topic/chat/"
APP_PRIVATE = "/app/chat/private"
APP_GROUP = "/app/chat/group"
DEFAULT_REPLAY_LIMIT = 5000


def _id_after(destination: str, prefix: str) -> int:
    text = destination[len(prefix):]
    if not text.isdigit() or int(text) <= 0:
        raise ImError(BAD_REQUEST, f"bad chat destination {destination}", 400)
    return int(text)


class ChatDestinationHandler:
    def __init__(self, chat: Any, *, replay_limit: int = DEFAULT_REPLAY_LIMIT) -> None:
        """`chat`: the ChatService, or the ImServices container holding it as `.chat`."""
        self.chat: ChatService = chat if isinstance(chat, ChatService) else chat.chat
        self.replay_limit = replay_limit

    def handles(self, destination: str) -> bool:
        return destination.startswith((QUEUE_PREFIX, TOPIC_PREFIX)) or destination in (
            APP_PRIVATE,
            APP_GROUP,
        )

    async def authorize_subscribe(self, principal: Any, destination: str) -> None:
        user_id = int(principal.user_id)
        if destination.startswith(QUEUE_PREFIX):
            if _id_after(destination, QUEUE_PREFIX) != user_id:
                raise ImError(FORBIDDEN, "this chat queue belongs to another user", 403)
            return
        if destination.startswith(TOPIC_PREFIX):
            await self.chat.groups.require_member(_id_after(destination, TOPIC_PREFIX), user_id)
            return
        raise ImError(BAD_REQUEST, f"cannot subscribe to {destination}", 400)

    async def replay(
        self, principal: Any, destination: str, since_seq: int
    ) -> list[tuple[dict[str, str], bytes]]:
        user_id = int(principal.user_id)
        if since_seq < 0:
            raise ImError(BAD_REQUEST, "x-since-seq must not be negative", 400)
        if destination.startswith(QUEUE_PREFIX):
            if _id_after(destination, QUEUE_PREFIX) != user_id:
                raise ImError(FORBIDDEN, "this chat queue belongs to another user", 403)
            return await self.chat.replay_private(user_id, since_seq, self.replay_limit)
        if destination.startswith(TOPIC_PREFIX):
            group_id = _id_after(destination, TOPIC_PREFIX)
            return await self.chat.replay_group(user_id, group_id, since_seq, self.replay_limit)
        return []

    async def on_send(
        self, principal: Any, destination: str, headers: Mapping[str, str], body: bytes
    ) -> Mapping[str, str]:
        result = await self.send(int(principal.user_id), destination, headers, body)
        return result.receipt_headers()

    def begin_send(
        self, principal: Any, destination: str, headers: Mapping[str, str], body: bytes
    ) -> asyncio.Future[Mapping[str, str]]:
        """The pipelined form of on_send: validates and queues the message now (so
        seqs follow the order of the frames) and returns a Future of the RECEIPT
        headers, resolved after the commit or failed with the ImError. Raises at
        once what needs no database (bad JSON, bad type, unknown target)."""
        queued = self.enqueue(int(principal.user_id), destination, headers, body)
        receipt: asyncio.Future[Mapping[str, str]] = asyncio.get_running_loop().create_future()

        def settle(done: asyncio.Future[SendResult]) -> None:
            if receipt.done():
                return
            if done.cancelled():
                receipt.cancel()
            elif (exc := done.exception()) is not None:
                receipt.set_exception(exc)
            else:
                receipt.set_result(done.result().receipt_headers())

        queued.add_done_callback(settle)
        return receipt

    async def send(
        self, user_id: int, destination: str, headers: Mapping[str, str], body: bytes
    ) -> SendResult:
        return await self.enqueue(user_id, destination, headers, body)

    def enqueue(
        self, user_id: int, destination: str, headers: Mapping[str, str], body: bytes
    ) -> asyncio.Future[SendResult]:
        data = self._body(destination, body)
        draft = parse_draft(
            data,
            max_length=self.chat.config.max_message_length,
            client_msg_id_header=headers.get("x-client-msg-id"),
        )
        chat = self.chat
        if destination.startswith(QUEUE_PREFIX):
            return chat.enqueue_private(user_id, _id_after(destination, QUEUE_PREFIX), draft)
        if destination.startswith(TOPIC_PREFIX):
            return chat.enqueue_group(user_id, _id_after(destination, TOPIC_PREFIX), draft)
        if destination == APP_PRIVATE:
            target = target_from(data, "toUserId", "receiverId", "targetId")
            return chat.enqueue_private(user_id, target, draft)
        if destination == APP_GROUP:
            return chat.enqueue_group(user_id, target_from(data, "groupId", "targetId"), draft)
        raise ImError(BAD_REQUEST, f"unknown chat destination {destination}", 400)

    @staticmethod
    def _body(destination: str, body: bytes) -> dict[str, Any]:
        try:
            data = orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError:
            data = None
            if not destination.startswith("/app/"):
                try:
                    return {"type": "text", "content": body.decode("utf-8")}
                except UnicodeDecodeError:
                    pass
            raise ImError(BAD_REQUEST, "the message body must be JSON", 400) from None
        if not isinstance(data, dict):
            raise ImError(BAD_REQUEST, "the message body must be a JSON object", 400)
        return data
