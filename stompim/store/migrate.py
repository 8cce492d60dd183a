"""Apply the schema of the database's dialect and record its version.

Call order: `db = await open_database(url)`, then `await migrate(db)` before any
repository is used. Every statement of the schema files is idempotent (`IF NOT EXISTS`),
so migrate runs on every start, on a fresh or an existing database, and twice in a row
(or from two nodes at once) harmlessly.

How the schema evolves: a new table goes into both schema files (`CREATE TABLE IF NOT
EXISTS`, so existing databases get it on the next start). A new column of an existing
table goes into the table's CREATE in both files (for new databases) AND into
`ADDED_COLUMNS` below (for databases created before it): migrate adds each listed column
that is missing, so the two paths end at the same schema (tests/store/test_schema.py
compares them). Bump SCHEMA_VERSION with a comment naming what the version adds.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import NamedTuple

from stompim.store.database import Database
from stompim.store.search_index import ensure_search_index

SCHEMA_VERSION = 3
"""2: media tables (media_blob, media_file, media_ref).
3: users.credential_gen; private inboxes (chat_inbox, chat_inbox_message, numbered once
from the stored private messages); presence, drafts, delivered and pinned conversations
(user_presence, chat_draft, chat_cursor.delivered_seq and pinned_at) and the search index
(stompim.store.search_index); group joins and mutes (group_application, group_invite_link,
chat_group.join_policy, group_member.muted_until); the message timeline (chat_message_edit,
chat_reaction, chat_hidden, chat_cleared, chat_mention, chat_pin, chat_message.edited_at,
chat_group.allow_member_mention_all)."""


class AddedColumn(NamedTuple):
    """A column added to an existing table after its first release (see module docstring).

    `mysql` and `sqlite` are the column definitions as they follow `ADD COLUMN <name>`
    (type, nullability, default); SQLite requires a constant default for NOT NULL."""

    table: str
    name: str
    mysql: str
    sqlite: str


ADDED_COLUMNS: tuple[AddedColumn, ...] = (
    # the credential generation: moved on by a password change, a disable or an admin
    # revocation, which ends every token and session of an older generation
    AddedColumn("users", "credential_gen", "BIGINT NOT NULL DEFAULT 0",
                "INTEGER NOT NULL DEFAULT 0"),
    AddedColumn("chat_cursor", "delivered_seq", "BIGINT NOT NULL DEFAULT 0",
                "INTEGER NOT NULL DEFAULT 0"),
    AddedColumn("chat_cursor", "pinned_at", "BIGINT NOT NULL DEFAULT 0",
                "INTEGER NOT NULL DEFAULT 0"),
    # group join policy (stompim.im.applications): 0 invite_only, 1 approval, 2 open
    AddedColumn("chat_group", "join_policy", "TINYINT NOT NULL DEFAULT 0",
                "INTEGER NOT NULL DEFAULT 0"),
    # a member's mute with a duration (epoch ms it ends; 0 = not muted by time)
    AddedColumn("group_member", "muted_until", "BIGINT NOT NULL DEFAULT 0",
                "INTEGER NOT NULL DEFAULT 0"),
    # chat timeline (edits): the time of a message's last edit, NULL when never edited
    AddedColumn("chat_message", "edited_at", "BIGINT NULL", "INTEGER NULL"),
    # chat timeline (mentions): whether plain members may mention @all
    AddedColumn("chat_group", "allow_member_mention_all", "TINYINT NOT NULL DEFAULT 0",
                "INTEGER NOT NULL DEFAULT 0"),
)
"""Columns to add where missing, in order (append only; never edit a released entry)."""


def schema_text(dialect: str) -> str:
    """The schema file of `dialect` ("sqlite" or "mysql")."""
    if dialect not in ("sqlite", "mysql"):
        raise ValueError(f"no schema for dialect {dialect!r}")
    return resources.files("stompim.store").joinpath("sql", f"{dialect}.sql").read_text("utf-8")


def split_statements(text: str) -> list[str]:
    """Split a schema file into statements: whole-line `--` comments dropped, a statement
    ends at a line whose last character is `;`. (No `;` at line ends inside strings.)"""
    statements: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line.rstrip())
        if stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";").rstrip())
            current = []
    if current and "".join(current).strip():
        statements.append("\n".join(current).strip())
    return statements


async def migrate(db: Database) -> int:
    """Create missing tables and indexes; record SCHEMA_VERSION; return the current version."""
    for statement in split_statements(schema_text(db.dialect)):
        await db.execute(statement)
    await add_missing_columns(db, ADDED_COLUMNS)
    await number_old_inboxes(db)
    await ensure_search_index(db)  # dialect-specific: stompim.store.search_index
    ignore = "INSERT IGNORE" if db.dialect == "mysql" else "INSERT OR IGNORE"
    await db.execute(
        f"{ignore} INTO schema_version (version, applied_at) VALUES (?, ?)",
        (SCHEMA_VERSION, int(time.time() * 1000)),
    )
    version = await db.fetch_val("SELECT MAX(version) FROM schema_version")
    return int(version)


async def number_old_inboxes(db: Database) -> bool:
    """Give the private messages stored before inbox seqs existed their places: each
    message's id is its place in both users' inboxes, and each user's counter starts at
    the highest of them, so a seq a client saw before the upgrade (it was the message id
    then) still resumes at the right place, and new messages follow it. Runs once: only
    while chat_inbox is empty and private messages exist (nodes of the new version must
    not have written yet: migrate before starting them). True when it numbered."""
    if await db.fetch_one("SELECT user_id FROM chat_inbox LIMIT 1"):   # (no COUNT: a start
        return False                                                   # must not scan)
    if not await db.fetch_one("SELECT id FROM chat_message WHERE chat_type = 1 LIMIT 1"):
        return False
    ignore = "INSERT IGNORE" if db.dialect == "mysql" else "INSERT OR IGNORE"
    async with db.transaction() as tx:
        for column in ("target_id", "sender_id"):
            await tx.execute(
                f"{ignore} INTO chat_inbox_message (user_id, seq, message_id)"
                f" SELECT {column}, id, id FROM chat_message WHERE chat_type = 1"
            )
        await tx.execute(
            f"{ignore} INTO chat_inbox (user_id, last_seq)"
            " SELECT user_id, MAX(seq) FROM chat_inbox_message GROUP BY user_id"
        )
    return True


async def column_names(db: Database, table: str) -> set[str]:
    """The columns `table` has now (empty when it does not exist)."""
    if db.dialect == "sqlite":
        rows = await db.fetch_all(f"PRAGMA table_info({table})")
        return {str(row["name"]) for row in rows}
    rows = await db.fetch_all(
        "SELECT column_name AS name FROM information_schema.columns"
        " WHERE table_schema = DATABASE() AND table_name = ?",
        (table,),
    )
    return {str(row["name"]) for row in rows}


async def add_missing_columns(db: Database, columns: tuple[AddedColumn, ...]) -> list[str]:
    """ALTER TABLE ... ADD COLUMN for each listed column the table lacks; returns
    "table.column" for each one added. Two nodes starting at once may both try: a
    column that appeared meanwhile is not an error."""
    added: list[str] = []
    for column in columns:
        if column.name in await column_names(db, column.table):
            continue
        definition = column.sqlite if db.dialect == "sqlite" else column.mysql
        try:
            await db.execute(f"ALTER TABLE {column.table} ADD COLUMN {column.name} {definition}")
        except Exception:
            if column.name not in await column_names(db, column.table):
                raise
            continue
        added.append(f"{column.table}.{column.name}")
    return added
