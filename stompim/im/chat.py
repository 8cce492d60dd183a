"""Private and group chat: rights, persistence before acknowledgement, delivery, history, recall.

Send, in order (DESIGN.md "A chat message, end to end"):
  1. the caller parsed and validated the draft (stompim.im.messages.parse_draft);
  2. rights: private -> no block either way, then friendship (unless
     im.allow_stranger_chat); group -> group exists, active member, not muted
     (member.muted, or group.all_muted for plain members);
  3. MessageRepository.append stores it with the conversation's next seq and
     commits (a resent clientMsgId returns the stored copy, `duplicate`);
  4. only then it is published (never for a duplicate), and the caller may
     acknowledge (STOMP RECEIPT) with the record's id, seq and conversation.

Delivery destinations and headers: see `ChatService.deliveries`. On a user's
`/queue/chat/<uid>` (every private conversation of that user is multiplexed
there) the `seq` header is the message id, which is global and monotonic, so
the broker's per-destination "seq" ordering (replay vs live de-duplication)
holds; the conversation's own seq is in `x-conversation-seq` and in the body.
On `/topic/chat/<gid>` the `seq` header is the group conversation's seq.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from stompim.config import ImConfig
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
    BLOCKED,
    FORBIDDEN,
    GROUP_MUTED,
    GROUP_NOT_FOUND,
    MESSAGE_NOT_FOUND,
    NOT_FRIENDS,
    NOT_GROUP_MEMBER,
    RECALL_WINDOW_PASSED,
    USER_NOT_FOUND,
    ImError,
)
from stompim.im.messages import ChatType, MessageDraft, MessageRecord, message_bytes, message_json
from stompim.im.publisher import Publisher
from stompim.store.database import Database
from stompim.store.messages import MessageRepository

log = logging.getLogger("stompim.im.chat")

MAX_HISTORY_LIMIT = 100
DEFAULT_HISTORY_LIMIT = 20
ADMIN_ROLE = 1  # MemberRecord.role: 0 member, 1 admin, 2 owner


@dataclass(frozen=True)
class SendResult:
    message: MessageRecord
    duplicate: bool  # the clientMsgId was already stored; nothing new was written or published

    def receipt_headers(self) -> dict[str, str]:
        out = {
            "message-id": str(self.message.id),
            "seq": str(self.message.seq),
            "conversation-id": str(self.message.conversation_id),
        }
        if self.duplicate:
            out["x-duplicate"] = "true"
        return out


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
    ) -> None:
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

    # -- sending --------------------------------------------------------------

    async def send_private(self, sender_id: int, to_user_id: int, draft: MessageDraft) -> SendResult:
        if to_user_id == sender_id:
            raise ImError(BAD_REQUEST, "cannot send a private message to yourself", 400)
        if await self.friends.blocked_either(sender_id, to_user_id):
            raise ImError(BLOCKED, "blocked", 403)
        if not await self.friends.is_friend(sender_id, to_user_id):
            if not self.config.allow_stranger_chat:
                raise ImError(NOT_FRIENDS, "not friends", 403)
            if to_user_id not in await self.users.get_many([to_user_id]):
                raise ImError(USER_NOT_FOUND, "user not found", 404)
        now = self.clock()
        conv = await self.repo.ensure_private(sender_id, to_user_id, now)
        record, duplicate = await self.messages.append(
            conversation_id=conv.id, sender_id=sender_id, chat_type=ChatType.PRIVATE,
            target_id=to_user_id, draft=draft, now=now,
        )
        if not duplicate:
            await self._publish_message(record)
        return SendResult(record, duplicate)

    async def send_group(self, sender_id: int, group_id: int, draft: MessageDraft) -> SendResult:
        group = await self.groups.get(group_id)
        if group is None:
            raise ImError(GROUP_NOT_FOUND, "group not found", 404)
        member = await self.groups.member(group_id, sender_id)
        if member is None:
            raise ImError(NOT_GROUP_MEMBER, "not a member of the group", 403)
        if member.muted or (group.all_muted and member.role < ADMIN_ROLE):
            raise ImError(GROUP_MUTED, "muted in this group", 403)
        now = self.clock()
        conv = await self.repo.ensure_group(group_id, now)
        record, duplicate = await self.messages.append(
            conversation_id=conv.id, sender_id=sender_id, chat_type=ChatType.GROUP,
            target_id=group_id, draft=draft, now=now, sender_joined_at=int(member.joined_at),
        )
        if not duplicate:
            await self._publish_message(record)
        return SendResult(record, duplicate)

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
        if not privileged:
            if self.clock() - msg.created_at > self.config.recall_window_seconds * 1000:
                raise ImError(RECALL_WINDOW_PASSED, "the recall window has passed", 400)
        now = self.clock()
        if await self.messages.mark_recalled(msg.id, now):
            body = orjson.dumps(
                {"event": "recall", "messageId": msg.id, "conversationId": msg.conversation_id,
                 "seq": msg.seq, "operatorId": user_id}
            )
            headers = event_headers("recall", msg.conversation_id)
            headers["x-message-id"] = str(msg.id)
            for dest in self.destinations_of(msg.chat_type, msg.target_id, msg.sender_id):
                await self._publish(dest, body, headers)
        stored = await self.messages.get(msg.id)
        assert stored is not None
        return message_json(stored)
