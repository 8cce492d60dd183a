"""Full-text search over stored chat messages, one index per dialect.

* SQLite: an FTS5 table `chat_message_fts` with the `trigram` tokenizer (SQLite >= 3.34),
  external content (`chat_message`, rowid = message id): the text is stored once, the
  index finds any substring of 3+ characters, in any script, ignoring case. A keyword of
  fewer than 3 characters cannot use trigrams: it is found by a scan of the user's
  conversations (LIKE).
* MariaDB / MySQL: a table `chat_message_search` (message id, conversation id, the
  message's words as stompim.store.search_tokens makes them) with an InnoDB FULLTEXT
  index, queried in boolean mode. MariaDB has no `ngram` parser: the two-character
  pairs of CJK text are made in Python instead (see search_tokens). A keyword the
  index cannot answer (one CJK character, punctuation only) is found by a scan.

These index structures differ per dialect by nature, so they are created here
(`ensure_search_index`, called by migrate) rather than in the schema files, which list
the tables both dialects share; tests/store/test_schema.py leaves them out of its
comparison.

Writes: `index_rows` inside the transaction that stores messages
(MessageRepository.write_batch), `unindex_sql` inside the one that recalls a message, so
the index and the messages never disagree after a commit. Messages stored before the
index existed are indexed when it is created (SQLite `rebuild`; MySQL a backfill in
chunks).

Reads: stompim.store.search.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from stompim.store.database import Database
from stompim.store.records import MessageStatus
from stompim.store.search_tokens import tokens

__all__ = [
    "FTS_TABLE",
    "SEARCH_TABLE",
    "TRIGRAM",
    "ensure_search_index",
    "index_rows",
    "index_statement",
    "unindex_sql",
]

log = logging.getLogger(__name__)

FTS_TABLE = "chat_message_fts"
SEARCH_TABLE = "chat_message_search"
TRIGRAM = 3
BACKFILL_CHUNK = 2000

_MYSQL_TABLE = f"""CREATE TABLE IF NOT EXISTS {SEARCH_TABLE} (
    message_id      BIGINT      NOT NULL,
    conversation_id BIGINT      NOT NULL,
    tokens          MEDIUMTEXT  NOT NULL,
    PRIMARY KEY (message_id),
    KEY idx_chat_message_search_conv (conversation_id, message_id),
    FULLTEXT KEY ft_chat_message_search (tokens)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"""

_SQLITE_TABLE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(content,"
    " content='chat_message', content_rowid='id', tokenize='trigram')"
)


async def _exists(db: Database, table: str) -> bool:
    if db.dialect == "sqlite":
        row = await db.fetch_one("SELECT name FROM sqlite_master WHERE name = ?", (table,))
    else:
        row = await db.fetch_one(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name = ?",
            (table,),
        )
    return row is not None


async def ensure_search_index(db: Database) -> None:
    """Create the dialect's index if missing and index the messages already stored."""
    if db.dialect == "sqlite":
        if await _exists(db, FTS_TABLE):
            return
        await db.execute(_SQLITE_TABLE)
        await db.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
        return
    if await _exists(db, SEARCH_TABLE):
        return
    await db.execute(_MYSQL_TABLE)
    await _backfill(db)


async def _backfill(db: Database) -> None:
    """Index the messages stored before the index existed (an upgrade), in chunks."""
    last, done = 0, 0
    while True:
        rows = await db.fetch_all(
            "SELECT id, conversation_id, content FROM chat_message WHERE id > ? AND status = ?"
            " ORDER BY id LIMIT ?",
            (last, int(MessageStatus.NORMAL), BACKFILL_CHUNK),
        )
        if not rows:
            break
        last = int(rows[-1]["id"])
        async with db.transaction() as tx:
            await index_rows(
                tx, db.dialect,
                [(int(r["id"]), int(r["conversation_id"]), str(r["content"])) for r in rows],
                ignore=True,
            )
        done += len(rows)
    if done:
        log.info("search index: %d stored messages indexed", done)


def index_statement(
    dialect: str, rows: Sequence[tuple[int, int, str]], *, ignore: bool = False
) -> tuple[str, list[Any]] | None:
    """The statement (SQL, parameters) that indexes new messages `(id, conversation_id,
    content)`, or None when none of them has words to index. Pure: a transaction plan
    (stompim.store.plan) runs it off the event loop."""
    if dialect == "sqlite":
        wanted = [(mid, content) for mid, _, content in rows if content]
        if not wanted:
            return None
        values = ", ".join("(?, ?)" for _ in wanted)
        return (
            f"INSERT INTO {FTS_TABLE}(rowid, content) VALUES {values}",
            [v for pair in wanted for v in pair],
        )
    made = [(mid, cid, tokens(content, cid)) for mid, cid, content in rows]
    made = [row for row in made if row[2]]
    if not made:
        return None
    values = ", ".join("(?, ?, ?)" for _ in made)
    verb = "INSERT IGNORE" if ignore else "INSERT"
    return (
        f"{verb} INTO {SEARCH_TABLE} (message_id, conversation_id, tokens) VALUES {values}",
        [v for row in made for v in row],
    )


async def index_rows(
    q: Any, dialect: str, rows: Sequence[tuple[int, int, str]], *, ignore: bool = False
) -> None:
    """Index new messages `(id, conversation_id, content)` through `q` (a transaction)."""
    statement = index_statement(dialect, rows, ignore=ignore)
    if statement is not None:
        await q.execute(*statement)


def unindex_sql(dialect: str) -> str:
    """The statement (one parameter: the message id) that takes a message out of the
    index; run it before the recall clears the content (SQLite needs the old text)."""
    if dialect == "sqlite":
        return (
            f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, content)"
            f" SELECT 'delete', id, content FROM chat_message WHERE id = ? AND content <> ''"
            f" AND status = {int(MessageStatus.NORMAL)}"
        )
    return f"DELETE FROM {SEARCH_TABLE} WHERE message_id = ?"
