"""Delivered state of private messages: "a device of the recipient has it".

A private message is delivered once its recipient's delivered cursor or read cursor
reaches its seq (`chat_cursor.delivered_seq` / `read_seq`; nothing per message). The
cursor moves when a device of the recipient ACKs a MESSAGE of the conversation on its
chat queue (STOMP client ack modes; stompim.stomp.chat), or reports it over REST
(`POST /api/message/delivered`), and reading implies it. Each move tells the sender's
devices (`Publisher.delivered`: a `delivered` event on their chat queue); a read already
tells them by its `read` event. History shows `delivered` and `read` on private messages
(`decorate`). Group messages have neither (their "read by" is per member).

Call order: the bindings call `mark_delivered` (many ACKs are coalesced by the STOMP
binding first); the REST history route calls `decorate` on the page it returns.
"""

from __future__ import annotations

from typing import Any, Protocol

from stompim.im.clock import Clock, now_ms
from stompim.im.errors import BAD_REQUEST, ImError
from stompim.im.ids import seq_value
from stompim.im.messages import ChatType
from stompim.store.conversations import ConversationRecord
from stompim.store.database import Database
from stompim.store.delivery import DeliveryRepository

__all__ = ["DeliveryService"]


class Access(Protocol):
    async def require_access(self, user_id: int, conversation_id: int) -> ConversationRecord: ...


class DeliveryPublisher(Protocol):
    async def delivered(
        self, conversation_id: int, recipient_id: int, seq: int, audience: list[int]
    ) -> None: ...


class DeliveryService:
    def __init__(
        self, db: Database, access: Access, publisher: DeliveryPublisher, clock: Clock = now_ms
    ) -> None:
        self.repo = DeliveryRepository(db)
        self.access = access
        self.publisher = publisher
        self.clock = clock

    async def mark_delivered(self, user_id: int, conversation_id: int, seq: int) -> int | None:
        """`user_id`'s devices have the conversation up to `seq` (clamped to its last
        seq). Returns the seq the sender was told of, or None when nothing moved (a group,
        an older seq, one already read)."""
        if isinstance(seq, int) and not isinstance(seq, bool) and seq < 0:
            raise ImError(BAD_REQUEST, "seq must not be negative", 400)
        seq = seq_value(seq, "seq")
        conv = await self.access.require_access(user_id, conversation_id)
        if conv.chat_type is not ChatType.PRIVATE:
            return None
        seq = min(seq, conv.last_seq)
        if seq <= 0 or not await self.repo.advance(conv.id, user_id, seq, self.clock()):
            return None
        await self.publisher.delivered(conv.id, user_id, seq, [conv.peer_of(user_id)])
        return seq

    async def decorate(self, conversation_id: int, items: list[dict[str, Any]]) -> None:
        """Add `delivered` / `read` to the private messages of a history page (in place;
        the caller checked access)."""
        if not items or items[0].get("chatType") != ChatType.PRIVATE.label:
            return
        marks = await self.repo.marks(conversation_id)
        for item in items:
            read, delivered = marks.get(int(item.get("toUserId", 0)), (0, 0))
            seq = int(item["seq"])
            item["read"] = seq <= read
            item["delivered"] = seq <= max(read, delivered)
