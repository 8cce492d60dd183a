"""Full-text search over stored chat messages: the queries (the index itself, per
dialect, is stompim.store.search_index).

`MessageSearch.find`: newest first, keyset on the message id, only messages of the
conversations the caller names (the IM layer names the user's own), never recalled ones
(status 0 only). A keyword the index cannot answer (SQLite: under 3 characters;
MariaDB: one CJK character, or no word at all) is found by a scan of those
conversations (LIKE), which the conversation filter bounds.

Two plans, because a full-text index is slow exactly where a scan is fast: for a word
in most messages the index hands back most of the table, while the newest messages of
the user's conversations contain it at once. So `find` first checks the newest
`RECENT_WINDOW` (300) messages of the scope without the index (`_recent`, the same matching
rules); if they hold a whole page of results, or are the whole scope, that is the
exact answer (the newest matches are among the newest messages). Otherwise the word
is rare enough for the index to answer quickly. bench/search.py measures both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stompim.store.database import Database, escape_like
from stompim.store.messages import _COLS, _record
from stompim.store.records import ChatType, MessageRecord, MessageStatus
from stompim.store.search_index import FTS_TABLE, SEARCH_TABLE, TRIGRAM
from stompim.store.search_tokens import boolean_query, token_patterns

__all__ = ["RECENT_WINDOW", "MessageSearch"]

RECENT_WINDOW = 300
LARGE_SCOPE = 100_000
"""A scope with more messages than this: its newest ones are read backwards along the
primary key (they are dense there), else from the (conversation, seq) index."""


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
        """Messages containing `keyword`, newest first, ids below `before_id`, in
        `conversation_id`, or else in every private conversation of `user_id` and the
        conversations of `group_ids`."""
        if conversation_id is not None:
            scope = [conversation_id]
        else:
            scope = await self.conversations_of(user_id, group_ids)
        if not scope:
            return []
        where = f"m.conversation_id IN ({', '.join('?' for _ in scope)}) AND m.status = ?"
        params: list[Any] = [*scope, int(MessageStatus.NORMAL)]
        if before_id is not None:
            where += " AND m.id < ?"
            params.append(before_id)
        cols = ", ".join(f"m.{c.strip()}" for c in _COLS.split(","))
        recent = await self._recent(cols, scope, keyword, before_id, limit)
        if recent is not None:
            return recent
        if self._db.dialect == "sqlite":
            index_from = f"{FTS_TABLE} f JOIN chat_message m ON m.id = f.rowid"
            index_where = f"{FTS_TABLE} MATCH ?"
            match = None if len(keyword) < TRIGRAM else '"' + keyword.replace('"', '""') + '"'
            verify: list[str] = []
        else:
            index_from = f"{SEARCH_TABLE} s JOIN chat_message m ON m.id = s.message_id"
            index_where = "MATCH(s.tokens) AGAINST (? IN BOOLEAN MODE)"
            found = boolean_query(keyword, scope)
            match, verify = found if found is not None else (None, [])
        if match is None:  # the index cannot answer: scan the scope
            sql = f"SELECT {cols} FROM chat_message m WHERE {where}"
            verify = [keyword.lower()]
            args: list[Any] = list(params)
        else:
            sql = f"SELECT {cols} FROM {index_from} WHERE {index_where} AND {where}"
            args = [match, *params]
        for text in verify:
            sql += " AND LOWER(m.content) LIKE ? ESCAPE '!'"
            args.append(f"%{escape_like(text)}%")
        sql += " ORDER BY m.id DESC LIMIT ?"
        args.append(limit)
        return [_record(r) for r in await self._db.fetch_all(sql, args)]

    async def _recent(
        self, cols: str, scope: list[int], keyword: str, before_id: int | None, limit: int
    ) -> list[MessageRecord] | None:
        """The answer from the newest RECENT_WINDOW messages of `scope`, when they are
        enough to give it (see the module docstring); None otherwise."""
        marks = ", ".join("?" for _ in scope)
        size = int(await self._db.fetch_val(
            f"SELECT COALESCE(SUM(last_seq), 0) FROM chat_conversation WHERE id IN ({marks})",
            scope,
        ) or 0)
        whole = size <= RECENT_WINDOW
        if self._db.dialect == "sqlite":
            hint, join = "", ""
            checks = ["LOWER(m.content) LIKE ? ESCAPE '!'"]
            args: list[Any] = [f"%{escape_like(keyword.lower())}%"]
        else:
            hint = ("FORCE INDEX (PRIMARY)" if size > LARGE_SCOPE
                    else "FORCE INDEX (uk_chat_message_seq)")
            join = f" JOIN {SEARCH_TABLE} s ON s.message_id = m.id"
            found = boolean_query(keyword)
            if found is None:  # the scan plan answers it anyway
                return None
            patterns = token_patterns(keyword)
            checks = ["CONCAT(' ', s.tokens, ' ') LIKE ?" for _ in patterns]
            checks += ["LOWER(m.content) LIKE ? ESCAPE '!'" for _ in found[1]]
            args = [*patterns, *(f"%{escape_like(v)}%" for v in found[1])]
        newest = f"SELECT id FROM chat_message {hint} WHERE conversation_id IN ({marks})"
        inner: list[Any] = list(scope)
        if before_id is not None:
            newest += " AND id < ?"
            inner.append(before_id)
        newest += f" ORDER BY id DESC LIMIT {RECENT_WINDOW}"
        sql = (
            f"SELECT {cols} FROM ({newest}) r JOIN chat_message m ON m.id = r.id{join}"
            f" WHERE m.status = ? AND {' AND '.join(checks)} ORDER BY m.id DESC LIMIT ?"
        )
        rows = await self._db.fetch_all(
            sql, [*inner, int(MessageStatus.NORMAL), *args, limit]
        )
        if len(rows) >= limit or whole:
            return [_record(r) for r in rows]
        return None

    async def conversations_of(self, user_id: int, group_ids: Iterable[int]) -> list[int]:
        """Every private conversation of `user_id` and the conversations of `group_ids`."""
        groups = sorted(set(group_ids))
        sql = ("SELECT id FROM chat_conversation WHERE (chat_type = ? AND user_a = ?)"
               " OR (chat_type = ? AND user_b = ?)")
        params: list[Any] = [int(ChatType.PRIVATE), user_id, int(ChatType.PRIVATE), user_id]
        if groups:
            sql += f" OR (chat_type = ? AND group_id IN ({', '.join('?' for _ in groups)}))"
            params += [int(ChatType.GROUP), *groups]
        return sorted(int(r["id"]) for r in await self._db.fetch_all(sql, params))
