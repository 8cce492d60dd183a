"""Read-by: who has read a message, and the read count pushed to a group message's sender.

Computed from the read cursors alone (stompim.store.readers): a member has read the
message at `seq` once their `read_seq >= seq`; members who joined after it was sent
and its sender are not counted. No per-message rows, so a send stays O(1) writes
whatever the group size; asking costs two indexed queries.

`readers()` answers GET /api/message/{messageId}/readers for any participant: the
counts, and the readers with names up to a limit (`truncated` says more read it).

`group_read()` is ConversationService's hook after a member's read marker moved in
a group (mark_read calls it after the commit): in groups of at most
`im.read_count_max_group_size` members, each message that became read (the newest
MAX_COUNT_EVENTS of them) goes to its sender as a read-count event
(Publisher.read_count; on STOMP `x-event: read_count` on `/queue/chat/<sender>`).
Larger groups get no event (their senders ask `readers()` when they want to know).
"""

from __future__ import annotations

import logging
from typing import Any

from stompim.im.conversations import ConversationService
from stompim.im.errors import BAD_REQUEST, MESSAGE_NOT_FOUND, ImError
from stompim.im.ids import id_value
from stompim.im.messages import ChatType
from stompim.im.publisher import Publisher
from stompim.im.system_messages import SYSTEM_TYPE
from stompim.store.conversations import ConversationRecord
from stompim.store.database import Database
from stompim.store.messages import MessageRepository
from stompim.store.readers import ReaderRepository
from stompim.store.users import UserRepository

__all__ = ["MAX_READERS", "ReadReceipts"]

log = logging.getLogger(__name__)

MAX_READERS = 500  # readers listed by name at most; the counts are always whole
MAX_COUNT_EVENTS = 50  # read-count events one read marker move sends at most


class ReadReceipts:
    def __init__(
        self,
        db: Database,
        conversations: ConversationService,
        publisher: Publisher,
        *,
        max_event_group_size: int = 100,
    ) -> None:
        """`max_event_group_size`: groups up to this many members get read-count
        events (0: none do)."""
        self.repo = ReaderRepository(db)
        self.messages = MessageRepository(db)
        self.users = UserRepository(db)
        self.conversations = conversations
        self.publisher = publisher
        self.max_event_group_size = max_event_group_size

    async def readers(
        self, user_id: int, message_id: int, *, limit: int = MAX_READERS
    ) -> dict[str, Any]:
        """Who read the message (participants may ask; anyone else: 3002)."""
        if not 0 <= limit <= MAX_READERS:
            raise ImError(BAD_REQUEST, f"limit: from 0 to {MAX_READERS}")
        msg = await self.messages.get(id_value(message_id, "messageId"))
        if msg is None:
            raise ImError(MESSAGE_NOT_FOUND, "message not found", 404)
        try:
            conv = await self.conversations.require_access(user_id, msg.conversation_id)
        except ImError:
            raise ImError(MESSAGE_NOT_FOUND, "message not found", 404) from None
        if conv.chat_type is ChatType.PRIVATE:
            peer = conv.peer_of(msg.sender_id)
            cursor = await self.conversations.repo.cursor(conv.id, peer)
            read_seq = cursor.read_seq if cursor else 0
            members, found = 1, ([(peer, read_seq)] if read_seq >= msg.seq else [])
            done = len(found)
        else:
            assert conv.group_id is not None
            members, done = await self.repo.counts(
                conv.id, conv.group_id, msg.sender_id, msg.created_at, msg.seq)
            rows = await self.repo.readers(
                conv.id, conv.group_id, msg.sender_id, msg.created_at, msg.seq, limit
            ) if limit else []
            found = [(r.user_id, r.read_seq) for r in rows]
        users = await self.users.get_many(uid for uid, _ in found)
        readers = []
        for uid, read_seq in found[:limit]:
            user = users.get(uid)
            readers.append({
                "userId": uid,
                "nickname": (user.nickname or user.username) if user else str(uid),
                "avatar": user.avatar if user else "",
                "readSeq": read_seq,
            })
        return {
            "messageId": msg.id,
            "conversationId": conv.id,
            "seq": msg.seq,
            "memberCount": members,
            "readCount": done,
            "unreadCount": max(0, members - done),
            "readers": readers,
            "truncated": done > len(readers),
        }

    async def group_read(
        self, conv: ConversationRecord, reader_id: int, before: int, now_read: int
    ) -> None:
        """After `reader_id`'s marker in group `conv` moved from `before` to `now_read`:
        read-count events to the senders of the messages in between (small groups)."""
        if self.max_event_group_size <= 0 or conv.group_id is None or now_read <= before:
            return
        try:
            members = await self.repo.cursors(
                conv.id, conv.group_id, self.max_event_group_size + 1)
            if len(members) > self.max_event_group_size:
                return
            newly = await self.messages.page(
                conv.id, before_seq=now_read + 1, after_seq=before, limit=MAX_COUNT_EVENTS)
            for msg in newly:
                if msg.sender_id == reader_id or msg.type == SYSTEM_TYPE or msg.recalled:
                    continue
                eligible = [(uid, seq) for uid, joined, seq in members
                            if uid != msg.sender_id and joined <= msg.created_at]
                done = sum(1 for _, seq in eligible if seq >= msg.seq)
                await self.publisher.read_count(msg, done, len(eligible))
        except Exception:  # the marker moved already; the sender can still ask readers()
            log.exception("read-count events of conversation %s failed", conv.id)
