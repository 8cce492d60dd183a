"""Apply the schema of the database's dialect and record its version.

Call order: `db = await open_database(url)`, then `await migrate(db)` before any
repository is used. Every statement of the schema files is idempotent (`IF NOT EXISTS`),
so migrate runs on every start, on a fresh or an existing database, and twice in a row
(or from two nodes at once) harmlessly.
"""

from __future__ import annotations

import time
from importlib import resources

from stompim.store.database import Database

SCHEMA_VERSION = 1


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
    ignore = "INSERT IGNORE" if db.dialect == "mysql" else "INSERT OR IGNORE"
    await db.execute(
        f"{ignore} INTO schema_version (version, applied_at) VALUES (?, ?)",
        (SCHEMA_VERSION, int(time.time() * 1000)),
    )
    version = await db.fetch_val("SELECT MAX(version) FROM schema_version")
    return int(version)
