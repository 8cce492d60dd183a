"""Private and group chat: rights, persistence before acknowledgement, delivery, history, recall.

Send, in order (DESIGN.md "A chat message, end to end"):
  1. the caller parsed and validated the draft (stompim.im.messages.parse_draft);
  2. send_private / send_group hand it to the SendBatcher (stompim.im.chat_batch),
     which checks the rights of a whole batch of concurrent sends at once:
     private -> no block either way, then friendship (unless
     im.allow_stranger_chat); group -> group exists, active member, not muted
     (member.muted, or group.all_muted for plain members);
  3. the batch is stored in one transaction (MessageRepository.write_batch), each
     message with its conversation's next seq (a resent clientMsgId returns the
     stored copy, `duplicate`; one reused in another conversation is refused, 3001);
  4. only after the commit each new message is published (never a duplicate) and
     the caller may acknowledge (STOMP RECEIPT) with the record's id, seq and
     conversation. A database failure refuses the batch's sends with 3001.

Delivery destinations and headers: see `ChatService.deliveries`. On a user's
`/queue/chat/<uid>` (every private conversation of that user is multiplexed
there) the `seq` header is the message id, which is global and monotonic, so
the broker's per-destination "seq" ordering (replay vs live de-duplication)
holds; the conversation's own seq is in `x-conversation-seq` and in the body.
On `/topic/chat/<gid>` the `seq` header is the group conversation's seq.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from stompim.config import ImConfig
from stompim.im.chat_batch import ADMIN_ROLE, SendBatcher, SendResult, SocialFacts, social_facts
from stompim.im.clock import Clock, now_ms
from stompim.im.conversations import (
    ConversationService,
    FriendChecks,
    GroupChecks,
    UserLookup,
    chat_queue,
    event_headers,
    group_topic,
)
from stompim.im.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    MESSAGE_NOT_FOUND,
    RECALL_WINDOW_PASSED,
    ImError,
)
from stompim.im.messages import ChatType, MessageDraft, MessageRecord, message_bytes, message_json
from stompim.im.publisher import Publisher
from stompim.store.database import Database
from stompim.store.messages import MessageRepository

log = logging.getLogger(__name__)

__all__ = ["ADMIN_ROLE", "ChatService", "SendResult"]

MAX_HISTORY_LIMIT = 100
DEFAULT_HISTORY_LIMIT = 20


class ChatService:
    def __init__(
        self,
        *,
        config: ImConfig,
        db: Database,
        publisher: Publisher,
        friends: FriendChecks,
        groups: GroupChecks,
        users: UserLookup,
        clock: Clock = now_ms,
        facts: SocialFacts | None = None,
    ) -> None:
        """`facts`: how a batch of sends asks for its rights facts; by default batch
        queries when `friends` / `groups` are the SQL services (see chat_batch)."""
        self.config = config
        self.publisher = publisher
        self.friends = friends
        self.groups = groups
        self.users = users
        self.clock = clock
        self.messages = MessageRepository(db)
        self.conversations = ConversationService(
            db=db, publisher=publisher, friends=friends, groups=groups, users=users, clock=clock
        )
        self.repo = self.conversations.repo
        self.batcher = SendBatcher(
            config=config,
            facts=facts if facts is not None else social_facts(friends, groups),
            users=users,
            conversations=self.repo,
            messages=self.messages,
            publish=self._publish_message,
        )

    # -- sending --------------------------------------------------------------

    async def send_private(
        self, sender_id: int, to_user_id: int, draft: MessageDraft
    ) -> SendResult:
        return await self.enqueue_private(sender_id, to_user_id, draft)

    async def send_group(self, sender_id: int, group_id: int, draft: MessageDraft) -> SendResult:
        return await self.enqueue_group(sender_id, group_id, draft)

    def enqueue_private(
        self, sender_id: int, to_user_id: int, draft: MessageDraft
    ) -> asyncio.Future[SendResult]:
        """The synchronous half of send_private: queued now, in call order; the Future
        resolves after the commit (or fails with the ImError). Raises at once what
        needs no database (a message to oneself)."""
        if to_user_id == sender_id:
            raise ImError(BAD_REQUEST, "cannot send a private message to yourself", 400)
        return self.batcher.enqueue(ChatType.PRIVATE, sender_id, to_user_id, draft, self.clock())

    def enqueue_group(
        self, sender_id: int, group_id: int, draft: MessageDraft
    ) -> asyncio.Future[SendResult]:
        """The synchronous half of send_group (see enqueue_private)."""
        return self.batcher.enqueue(ChatType.GROUP, sender_id, group_id, draft, self.clock())

    # -- delivery -------------------------------------------------------------

    @staticmethod
    def message_headers(msg: MessageRecord, destination: str) -> dict[str, str]:
        """MESSAGE headers for `msg` on `destination` (live and replay alike).

        The stored id is the MESSAGE's `message-id` (the broker keeps a server-side
        publisher's `message-id` for every subscriber; front ends read it); the
        `x-message-id` copy stays for clients written against earlier versions.
        """
        order = msg.id if destination.startswith("/queue/chat/") else msg.seq
        return {
            "message-id": str(msg.id),
            "x-message-id": str(msg.id),
            "seq": str(order),
            "x-conversation-seq": str(msg.seq),
            "conversation-id": str(msg.conversation_id),
            "content-type": "application/json",
        }

    @staticmethod
    def destinations_of(chat_type: ChatType, target_id: int, sender_id: int) -> list[str]:
        if chat_type is ChatType.GROUP:
            return [group_topic(target_id)]
        return [chat_queue(target_id), chat_queue(sender_id)]

    def deliveries(self, msg: MessageRecord) -> list[tuple[str, dict[str, str], bytes]]:
        """(destination, headers, body) for a stored message: the recipient's and the
        sender's private queues (other devices), or the group topic."""
        body = message_bytes(msg)
        return [
            (dest, self.message_headers(msg, dest), body)
            for dest in self.destinations_of(msg.chat_type, msg.target_id, msg.sender_id)
        ]

    async def _publish(self, destination: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            await self.publisher.publish(destination, body, headers)
        except Exception:  # stored already: a failed live push is recovered by replay/history
            log.exception("publishing to %s failed", destination)

    async def _publish_message(self, msg: MessageRecord) -> None:
        for dest, headers, body in self.deliveries(msg):
            await self._publish(dest, body, headers)

    # -- replay (for the broker's SUBSCRIBE x-since-seq) ------------------------

    async def replay_group(
        self, user_id: int, group_id: int, since_seq: int, limit: int
    ) -> list[tuple[dict[str, str], bytes]]:
        await self.groups.require_member(group_id, user_id)
        conv = await self.repo.of_group(group_id)
        if conv is None:
            return []
        dest = group_topic(group_id)
        msgs = await self.messages.page(conv.id, after_seq=since_seq, limit=limit)
        return [(self.message_headers(m, dest), message_bytes(m)) for m in msgs]

    async def replay_private(
        self, user_id: int, since_id: int, limit: int
    ) -> list[tuple[dict[str, str], bytes]]:
        dest = chat_queue(user_id)
        msgs = await self.messages.private_after_id(user_id, since_id, limit)
        return [(self.message_headers(m, dest), message_bytes(m)) for m in msgs]

    # -- history and recall ---------------------------------------------------

    async def history(
        self,
        user_id: int,
        conversation_id: int,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> list[dict[str, Any]]:
        """A page of messages in ascending seq order (keyset by seq; see MessageRepository.page)."""
        if limit < 1 or limit > MAX_HISTORY_LIMIT:
            raise ImError(BAD_REQUEST, f"limit must be 1..{MAX_HISTORY_LIMIT}", 400)
        conv = await self.conversations.require_access(user_id, conversation_id)
        msgs = await self.messages.page(
            conv.id, before_seq=before_seq, after_seq=after_seq, limit=limit
        )
        return [message_json(m) for m in msgs]

    async def recall(self, user_id: int, message_id: int) -> dict[str, Any]:
        """Recall a message: its sender within im.recall_window_seconds, or a group
        owner/admin at any time. Clears the stored content and tells every
        destination of the conversation (`x-event: recall`). Recalling twice is a no-op."""
        msg = await self.messages.get(message_id)
        if msg is None:
            raise ImError(MESSAGE_NOT_FOUND, "message not found", 404)
        try:
            await self.conversations.require_access(user_id, msg.conversation_id)
        except ImError:
            raise ImError(MESSAGE_NOT_FOUND, "message not found", 404) from None
        privileged = False
        if msg.chat_type is ChatType.GROUP:
            member = await self.groups.member(msg.target_id, user_id)
            privileged = member is not None and member.role >= ADMIN_ROLE
        if not privileged and msg.sender_id != user_id:
            raise ImError(FORBIDDEN, "only the sender or a group admin may recall", 403)
        if msg.recalled:
            return message_json(msg)
        window_ms = self.config.recall_window_seconds * 1000
        if not privileged and self.clock() - msg.created_at > window_ms:
            raise ImError(RECALL_WINDOW_PASSED, "the recall window has passed", 400)
        now = self.clock()
        if await self.messages.mark_recalled(msg.id, now):
            body = orjson.dumps(
                {
                    "event": "recall",
                    "messageId": msg.id,
                    "conversationId": msg.conversation_id,
                    "seq": msg.seq,
                    "operatorId": user_id,
                }
            )
            headers = event_headers("recall", msg.conversation_id)
            headers["x-message-id"] = str(msg.id)
            for dest in self.destinations_of(msg.chat_type, msg.target_id, msg.sender_id):
                await self._publish(dest, body, headers)
        stored = await self.messages.get(msg.id)
        assert stored is not None
        return message_json(stored)
