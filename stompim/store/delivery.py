"""Delivered cursors of private chats (`chat_cursor.delivered_seq`).

A message of a private conversation is delivered when its seq is <= the recipient's
delivered_seq or read_seq (reading implies receiving), so, as for reads, nothing is
stored per message.
"""

from __future__ import annotations

from stompim.store.database import Database

__all__ = ["DeliveryRepository"]


class DeliveryRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def advance(self, conversation_id: int, user_id: int, seq: int, now: int) -> bool:
        """Move the user's delivered_seq forward to `seq`; True when it moved (it never
        moves back, and a read cursor already there counts as delivered)."""
        result = await self._db.execute(
            "UPDATE chat_cursor SET delivered_seq = ?, updated_at = ?"
            " WHERE conversation_id = ? AND user_id = ? AND delivered_seq < ? AND read_seq < ?",
            (seq, now, conversation_id, user_id, seq, seq),
        )
        return result.rowcount > 0

    async def marks(self, conversation_id: int) -> dict[int, tuple[int, int]]:
        """user id -> (read_seq, delivered_seq) of every cursor of the conversation."""
        rows = await self._db.fetch_all(
            "SELECT user_id, read_seq, delivered_seq FROM chat_cursor"
            " WHERE conversation_id = ?",
            (conversation_id,),
        )
        return {int(r["user_id"]): (int(r["read_seq"]), int(r["delivered_seq"])) for r in rows}
