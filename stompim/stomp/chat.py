"""The broker's DestinationHandler for chat: /queue/chat/*, /topic/chat/*, /app/chat/*.

Registered by app.py: `broker.add_handler(ChatDestinationHandler(services.chat))`.

SEND (`begin_send`): `/queue/chat/<userId>` and `/topic/chat/<groupId>` name the target
in the destination; `/app/chat/private` (body `toUserId`, alias `receiverId` /
`targetId`) and `/app/chat/group` (body `groupId`, alias `targetId`) name it in the
JSON body, as a Spring @MessageMapping front end sends it. A body that is not JSON is
taken as the content of a text message on the first two. `x-client-msg-id` (or
`clientMsgId` in the body) makes a resend idempotent. What needs no database is refused
at once (ImError); the rest is queued in frame order, and the returned Future resolves
after the commit with the RECEIPT headers (`message-id`, `seq`, `conversation-id`, plus
`x-duplicate: true` for a resent client message id), or fails with the refusal. A
database that is down is answered as refusal 3001 ("not stored, send it again").
Cancelling the Future withdraws the send while it still waits for its batch; once its
batch is being stored, cancel() returns False and the Future still resolves.

SUBSCRIBE: `/queue/chat/<uid>` only by that user; `/topic/chat/<gid>` only by an active
member (4001/4002 otherwise). `/app/chat/*` cannot be subscribed.

Resume (`x-since-seq:<n>`), chosen so the broker can order and de-duplicate by the
`seq` header of one destination (see stompim.stomp.destinations):
  * `/topic/chat/<gid>`: n is the group conversation's seq; messages with seq > n.
  * `/queue/chat/<uid>` (also reached as `/user/queue/chat`): n is the last inbox seq
    the client saw; the replay is all the user's private messages after place n of
    their inbox.
Both are ordered streams (`ordered`): contiguous seqs committed in order, so the
broker delivers them in order, exactly once, and asks `replay` again for a hole it
sees (a message stored on another node whose publish came late or was lost); a
SUBSCRIBE without x-since-seq starts at `head` (what is stored by then).
At most `replay_limit` messages are replayed at a time; older gaps are filled by history.

ACK (client ack modes) of a private chat MESSAGE on `/queue/chat/<uid>` by that user, of
a message someone else sent: the message's conversation is delivered to the user up to
its seq (stompim.im.delivery). ACKs are coalesced per (user, conversation) and written
from one task, so a burst of ACKs costs one update per conversation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import orjson

from stompim.broker.auth import Principal
from stompim.errors import Unavailable
from stompim.im.chat import ChatService, SendFuture, SendResult
from stompim.im.delivery import DeliveryService
from stompim.im.errors import BAD_REQUEST, FORBIDDEN, SEND_FAILED, ImError
from stompim.im.messages import message_bytes, parse_draft, target_from
from stompim.stomp.destinations import (
    APP_GROUP,
    APP_PRIVATE,
    QUEUE_PREFIX,
    TOPIC_PREFIX,
    chat_queue,
    group_topic,
    id_in,
    message_headers,
    receipt_headers,
    since_seq,
)

__all__ = ["DEFAULT_REPLAY_LIMIT", "ChatDestinationHandler"]

log = logging.getLogger(__name__)
MAX_PENDING_ACKS = 10_000

DEFAULT_REPLAY_LIMIT = 5000

S = TypeVar("S")
T = TypeVar("T")


def not_stored(exc: Unavailable) -> ImError:
    """How a chat SEND hears that the database is down: refusal 3001, send it again."""
    return ImError(SEND_FAILED, f"the message could not be stored ({exc.message})", 503)


class _MappedFuture(asyncio.Future[T]):
    """A Future of `render(source's result)`; cancelling it asks the source first, so a
    source that refuses cancellation (a send being committed) keeps both alive."""

    def __init__(self, source: asyncio.Future[S], render: Callable[[S], T]) -> None:
        super().__init__(loop=source.get_loop())
        self._source = source
        self._render = render
        source.add_done_callback(self._settle)

    def cancel(self, msg: Any | None = None) -> bool:
        if self.done() or not self._source.cancel(msg):
            return False
        return super().cancel(msg)

    def _settle(self, source: asyncio.Future[Any]) -> None:
        if self.done():
            return
        if source.cancelled():
            super().cancel()
        elif (exc := source.exception()) is not None:
            self.set_exception(not_stored(exc) if isinstance(exc, Unavailable) else exc)
        else:
            self.set_result(self._render(source.result()))


def _receipt(result: SendResult) -> Mapping[str, str]:
    return receipt_headers(result.message, result.duplicate)


class ChatDestinationHandler:
    """The chat destinations of the broker (see the module docstring)."""

    def __init__(
        self,
        chat: ChatService,
        *,
        replay_limit: int = DEFAULT_REPLAY_LIMIT,
        delivery: DeliveryService | None = None,
    ) -> None:
        self.chat = chat
        self.replay_limit = replay_limit
        self.delivery = delivery
        self._acks: dict[tuple[int, int], int] = {}
        self._ack_task: asyncio.Task[None] | None = None

    # -- ACKs: delivered ------------------------------------------------------------

    def acknowledged(
        self, principal: Principal, destination: str, headers: Sequence[Mapping[str, str]]
    ) -> None:
        if self.delivery is None or not destination.startswith(QUEUE_PREFIX):
            return
        user_id = principal.user_id
        for h in headers:
            if "x-event" in h or h.get("x-sender-id") == str(user_id):
                continue
            cid, seq = h.get("conversation-id", ""), h.get("x-conversation-seq", "")
            if not (cid.isascii() and cid.isdigit() and seq.isascii() and seq.isdigit()):
                continue
            key = (user_id, int(cid))
            if len(self._acks) >= MAX_PENDING_ACKS and key not in self._acks:
                continue  # the recipient's read still marks it delivered
            self._acks[key] = max(self._acks.get(key, 0), int(seq))
        if self._acks and self._ack_task is None:
            self._ack_task = asyncio.get_running_loop().create_task(self._flush_acks())

    async def _flush_acks(self) -> None:
        try:
            while self._acks:
                pending, self._acks = self._acks, {}
                for (user_id, cid), seq in pending.items():
                    try:
                        assert self.delivery is not None
                        await self.delivery.mark_delivered(user_id, cid, seq)
                    except Exception as exc:  # a stale ACK, the database away: skip it
                        log.debug("delivered mark of %s in %s failed: %s", user_id, cid, exc)
        finally:
            self._ack_task = None

    def handles(self, destination: str) -> bool:
        return destination.startswith((QUEUE_PREFIX, TOPIC_PREFIX)) or destination in (
            APP_PRIVATE,
            APP_GROUP,
        )

    async def authorize_subscribe(self, principal: Principal, destination: str) -> None:
        if destination.startswith(QUEUE_PREFIX):
            if id_in(destination, QUEUE_PREFIX) != principal.user_id:
                raise ImError(FORBIDDEN, "this chat queue belongs to another user", 403)
            return
        if destination.startswith(TOPIC_PREFIX):
            await self.chat.groups.require_member(
                id_in(destination, TOPIC_PREFIX), principal.user_id
            )
            return
        raise ImError(BAD_REQUEST, f"cannot subscribe to {destination[:80]}", 400)

    def ordered(self, destination: str) -> bool:
        """Every subscribable chat destination is an ordered stream (module docstring)."""
        return destination.startswith((QUEUE_PREFIX, TOPIC_PREFIX))

    async def head(self, principal: Principal, destination: str) -> int:
        """The last `seq` of `destination` stored so far."""
        user_id = principal.user_id
        if destination.startswith(QUEUE_PREFIX):
            if id_in(destination, QUEUE_PREFIX) != user_id:
                raise ImError(FORBIDDEN, "this chat queue belongs to another user", 403)
            return await self.chat.private_head(user_id)
        return await self.chat.group_head(user_id, id_in(destination, TOPIC_PREFIX))

    async def replay(
        self, principal: Principal, destination: str, since: int
    ) -> list[tuple[dict[str, str], bytes]]:
        after = since_seq(since)
        user_id = principal.user_id
        if destination.startswith(QUEUE_PREFIX):
            if id_in(destination, QUEUE_PREFIX) != user_id:
                raise ImError(FORBIDDEN, "this chat queue belongs to another user", 403)
            dest = chat_queue(user_id)
            found = await self.chat.replay_private(user_id, after, self.replay_limit)
        elif destination.startswith(TOPIC_PREFIX):
            group_id = id_in(destination, TOPIC_PREFIX)
            dest = group_topic(group_id)
            found = await self.chat.replay_group(user_id, group_id, after, self.replay_limit)
        else:
            return []
        return [(message_headers(m, dest), message_bytes(m)) for m in found]

    def begin_send(
        self, principal: Principal, destination: str, headers: Mapping[str, str], body: bytes
    ) -> asyncio.Future[Mapping[str, str]]:
        """Validate and queue the message now (so seqs follow the order of the frames);
        a Future of the RECEIPT headers (see the module docstring)."""
        queued = self.enqueue(principal.user_id, destination, headers, body)
        return _MappedFuture(queued, _receipt)

    async def on_send(
        self, principal: Principal, destination: str, headers: Mapping[str, str], body: bytes
    ) -> Mapping[str, str]:
        """`begin_send` awaited: for a broker that does not pipeline sends."""
        return await self.begin_send(principal, destination, headers, body)

    def enqueue(
        self, user_id: int, destination: str, headers: Mapping[str, str], body: bytes
    ) -> SendFuture:
        """Parse the SEND and queue it with the chat service (its Future of the result)."""
        data = self._body(destination, body)
        draft = parse_draft(
            data,
            max_length=self.chat.config.max_message_length,
            client_msg_id_header=headers.get("x-client-msg-id"),
        )
        chat = self.chat
        if destination.startswith(QUEUE_PREFIX):
            return chat.enqueue_private(user_id, id_in(destination, QUEUE_PREFIX), draft)
        if destination.startswith(TOPIC_PREFIX):
            return chat.enqueue_group(user_id, id_in(destination, TOPIC_PREFIX), draft)
        if destination == APP_PRIVATE:
            target = target_from(data, "toUserId", "receiverId", "targetId")
            return chat.enqueue_private(user_id, target, draft)
        if destination == APP_GROUP:
            return chat.enqueue_group(user_id, target_from(data, "groupId", "targetId"), draft)
        raise ImError(BAD_REQUEST, f"unknown chat destination {destination[:80]}", 400)

    async def send(
        self, user_id: int, destination: str, headers: Mapping[str, str], body: bytes
    ) -> SendResult:
        """`enqueue` awaited (tools and tests)."""
        return await self.enqueue(user_id, destination, headers, body)

    @staticmethod
    def _body(destination: str, body: bytes) -> dict[str, Any]:
        try:
            data = orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError:
            if not destination.startswith("/app/"):
                try:
                    return {"type": "text", "content": body.decode("utf-8")}
                except UnicodeDecodeError:
                    pass
            raise ImError(BAD_REQUEST, "the message body must be JSON", 400) from None
        if not isinstance(data, dict):
            raise ImError(BAD_REQUEST, "the message body must be a JSON object", 400)
        return data
