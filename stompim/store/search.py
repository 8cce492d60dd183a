"""Full-text search over stored chat messages: the queries (the index itself, per
dialect, is stompim.store.search_index).

`MessageSearch.find`: newest first, keyset on the message id, only messages of the
conversations the caller names (the IM layer names the user's own), never recalled ones
(status 0 only). A keyword the index cannot answer (SQLite: under 3 characters;
MariaDB: one CJK character, or no word at all) is found by a scan of those
conversations (LIKE), which the conversation filter bounds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stompim.store.database import Database, escape_like
from stompim.store.messages import _COLS, _record
from stompim.store.records import ChatType, MessageRecord, MessageStatus
from stompim.store.search_index import FTS_TABLE, SEARCH_TABLE, TRIGRAM
from stompim.store.search_tokens import boolean_query

__all__ = ["MessageSearch"]


def _scope(user_id: int, group_ids: Iterable[int], conversation_id: int | None) -> tuple[
    str, list[Any]
]:
    """SQL (on alias `m`) limiting messages to one conversation, or to every private
    conversation of `user_id` and the conversations of `group_ids`."""
    if conversation_id is not None:
        return "m.conversation_id = ?", [conversation_id]
    groups = sorted(set(group_ids))
    sql = (
        "m.conversation_id IN (SELECT id FROM chat_conversation WHERE"
        " (chat_type = ? AND (user_a = ? OR user_b = ?))"
    )
    params: list[Any] = [int(ChatType.PRIVATE), user_id, user_id]
    if groups:
        sql += f" OR (chat_type = ? AND group_id IN ({', '.join('?' for _ in groups)}))"
        params += [int(ChatType.GROUP), *groups]
    return sql + ")", params


class MessageSearch:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def find(
        self,
        user_id: int,
        group_ids: Iterable[int],
        keyword: str,
        *,
        conversation_id: int | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[MessageRecord]:
        """Messages containing `keyword`, newest first, ids below `before_id`."""
        scope, params = _scope(user_id, group_ids, conversation_id)
        where = f"{scope} AND m.status = ?"
        params.append(int(MessageStatus.NORMAL))
        if before_id is not None:
            where += " AND m.id < ?"
            params.append(before_id)
        cols = ", ".join(f"m.{c.strip()}" for c in _COLS.split(","))
        match = self._match(keyword)
        if match is None:
            sql = (
                f"SELECT {cols} FROM chat_message m WHERE {where}"
                " AND LOWER(m.content) LIKE ? ESCAPE '!' ORDER BY m.id DESC LIMIT ?"
            )
            args = [*params, f"%{escape_like(keyword.lower())}%", limit]
        elif self._db.dialect == "sqlite":
            sql = (
                f"SELECT {cols} FROM {FTS_TABLE} f JOIN chat_message m ON m.id = f.rowid"
                f" WHERE {FTS_TABLE} MATCH ? AND {where} ORDER BY m.id DESC LIMIT ?"
            )
            args = [match, *params, limit]
        else:
            sql = (
                f"SELECT {cols} FROM {SEARCH_TABLE} s JOIN chat_message m ON m.id = s.message_id"
                f" WHERE MATCH(s.tokens) AGAINST (? IN BOOLEAN MODE) AND {where}"
                " ORDER BY m.id DESC LIMIT ?"
            )
            args = [match, *params, limit]
        return [_record(r) for r in await self._db.fetch_all(sql, args)]

    def _match(self, keyword: str) -> str | None:
        """The index query for `keyword`, or None when only a scan can answer it."""
        if self._db.dialect == "sqlite":
            if len(keyword) < TRIGRAM:
                return None
            return '"' + keyword.replace('"', '""') + '"'
        return boolean_query(keyword)
