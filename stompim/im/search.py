"""Message search: `GET /api/message/search?keyword=&conversationId=&cursor=&limit=`.

Only the caller's own conversations are searched: every private conversation they take
part in and the groups they are an active member of (or the one conversation they name,
after the same access check as history). Recalled messages are never found (their text
is gone from the index and the message). The index and its query per database are in
stompim.store.search / stompim.store.search_index.

Paging: newest first; `nextCursor` is the id of the last message of the page, given back
as `cursor` for the next (older) one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from stompim.im.errors import BAD_REQUEST, ImError
from stompim.im.ids import id_value
from stompim.im.messages import MessageRecord, message_json
from stompim.store.conversations import ConversationRecord
from stompim.store.database import Database
from stompim.store.search import MessageSearch

__all__ = ["MAX_KEYWORD", "MAX_SEARCH_LIMIT", "SearchService"]

MAX_KEYWORD = 100
MAX_SEARCH_LIMIT = 100
DEFAULT_SEARCH_LIMIT = 20


class Access(Protocol):
    async def require_access(self, user_id: int, conversation_id: int) -> ConversationRecord: ...


class Groups(Protocol):
    async def groups_of(self, user_id: int) -> list[int]: ...


def _as_is(msg: MessageRecord) -> MessageRecord:
    return msg


class SearchService:
    def __init__(
        self, db: Database, access: Access, groups: Groups,
        linked: Callable[[MessageRecord], MessageRecord] = _as_is,
    ) -> None:
        self.search = MessageSearch(db)
        self.access = access
        self.groups = groups
        self.linked = linked

    async def find(
        self,
        user_id: int,
        keyword: str,
        *,
        conversation_id: int | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_SEARCH_LIMIT,
    ) -> dict[str, Any]:
        word = (keyword or "").strip()
        if not word:
            raise ImError(BAD_REQUEST, "keyword must not be empty", 400)
        if len(word) > MAX_KEYWORD:
            raise ImError(BAD_REQUEST, f"keyword: at most {MAX_KEYWORD} characters", 400)
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise ImError(BAD_REQUEST, f"limit: 1 to {MAX_SEARCH_LIMIT}", 400)
        before = None
        if cursor:
            if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 19):
                raise ImError(BAD_REQUEST, "cursor: not a cursor this server gave", 400)
            before = id_value(int(cursor), "cursor")
        groups: list[int] = []
        if conversation_id is not None:
            conv = await self.access.require_access(user_id, conversation_id)
            conversation_id = conv.id
        else:
            groups = await self.groups.groups_of(user_id)
        found = await self.search.find(
            user_id, groups, word, conversation_id=conversation_id, before_id=before,
            limit=limit + 1,
        )
        more = len(found) > limit
        found = found[:limit]
        return {
            "list": [message_json(self.linked(m)) for m in found],
            "nextCursor": str(found[-1].id) if more and found else None,
            "hasMore": more,
        }

