"""Per-conversation drafts synced across a user's devices, and pinned conversations.

* `save_draft(user, conversation, content)`: the unsent text of one conversation
  (empty clears it); every device of the user hears it on its chat queue (a `draft`
  event) and finds it in the conversation list (`draft`) and in `GET
  /api/conversation/drafts`. Last write wins (by arrival).
* `set_pinned(user, conversation, pinned)`: pinned conversations come first in the
  conversation list (most recently pinned first), all of them on its first page,
  beside the `limit` others; later pages leave them out (so a later page may hold
  fewer than `limit`). The user's devices hear a `pin` event.

Both are the user's own: nobody else sees or hears them. Stored in `chat_draft` and
`chat_cursor.pinned_at` (stompim.store.drafts).

Call order: the REST routes call these; the conversation-list route calls `list`
(which wraps ConversationService.list).
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol

from stompim.im.clock import Clock, now_ms
from stompim.im.conversations import ConversationService
from stompim.im.errors import MESSAGE_TOO_LONG, ImError
from stompim.store.database import Database
from stompim.store.drafts import DraftRepository

__all__ = ["DraftService"]


class DraftPublisher(Protocol):
    async def own_event(self, user_id: int, conversation_id: int, event: dict[str, Any]) -> None:
        ...


class DraftService:
    def __init__(
        self,
        db: Database,
        conversations: ConversationService,
        publisher: DraftPublisher,
        *,
        max_length: int = 5000,
        clock: Clock = now_ms,
    ) -> None:
        self.repo = DraftRepository(db)
        self.conversations = conversations
        self.publisher = publisher
        self.max_length = max_length
        self.clock = clock

    async def save_draft(self, user_id: int, conversation_id: int, content: str) -> dict[str, Any]:
        if len(content) > self.max_length:
            raise ImError(MESSAGE_TOO_LONG, f"a draft holds at most {self.max_length}"
                          " characters", 400)
        conv = await self.conversations.require_access(user_id, conversation_id)
        now = self.clock()
        await self.repo.save(conv.id, user_id, content, now)
        draft = {"conversationId": conv.id, "content": content, "updatedAt": now}
        await self.publisher.own_event(user_id, conv.id, {"event": "draft", **draft})
        return draft

    async def drafts(self, user_id: int) -> builtins.list[dict[str, Any]]:
        found = await self.repo.of_user(user_id)
        return [{"conversationId": cid, "content": content, "updatedAt": at}
                for cid, (content, at) in sorted(found.items(), key=lambda kv: -kv[1][1])]

    async def set_pinned(self, user_id: int, conversation_id: int, pinned: bool) -> dict[str, Any]:
        conv = await self.conversations.require_access(user_id, conversation_id)
        now = self.clock()
        await self.repo.set_pinned(conv.id, user_id, now if pinned else 0, now)
        state = {"conversationId": conv.id, "pinned": pinned, "pinnedAt": now if pinned else 0}
        await self.publisher.own_event(user_id, conv.id, {"event": "pin", **state})
        return state

    async def list(
        self, user_id: int, cursor: str | None = None, limit: int = 20
    ) -> dict[str, Any]:
        """The conversation list with `pinned`, `pinnedAt` and `draft` on each item,
        pinned conversations first on the first page and nowhere else."""
        page = await self.conversations.list(user_id, cursor, limit)
        pins = await self.repo.pinned(user_id)
        items = [item for item in page["list"] if item["conversationId"] not in pins]
        if cursor is None and pins:
            pinned = await self.conversations.items_for(user_id, list(pins))
            pinned.sort(key=lambda item: -pins[item["conversationId"]])
            items = pinned + items
        drafts = await self.repo.of_user(user_id, [item["conversationId"] for item in items])
        for item in items:
            cid = item["conversationId"]
            item["pinned"] = cid in pins
            item["pinnedAt"] = pins.get(cid, 0)
            found = drafts.get(cid)
            item["draft"] = (None if found is None
                             else {"content": found[0], "updatedAt": found[1]})
        page["list"] = items
        return page
