"""The schema: migrate is idempotent, and the SQLite schema matches the canonical MySQL one
(same tables, columns, nullability and unique keys), read back from live databases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import stompim.store as store
from stompim.store import SCHEMA_VERSION, Database, migrate, open_database
from stompim.store.migrate import (
    ADDED_COLUMNS,
    AddedColumn,
    add_missing_columns,
    column_names,
    schema_text,
    split_statements,
)
from stompim.store.search_index import FTS_TABLE, SEARCH_TABLE

ROOT = Path(__file__).resolve().parents[2]


async def test_migrate_twice(db: Database) -> None:
    assert await migrate(db) == SCHEMA_VERSION
    assert await migrate(db) == SCHEMA_VERSION
    assert await db.fetch_val("SELECT COUNT(*) FROM schema_version") == 1


def test_root_schema_is_the_mysql_schema() -> None:
    root = ROOT / "schema.sql"
    assert root.is_symlink()
    assert root.read_text("utf-8") == schema_text("mysql")


def _columns_from_text(text: str) -> dict[str, list[str]]:
    """Table -> column names, parsed from the CREATE TABLE statements of a schema file."""
    tables: dict[str, list[str]] = {}
    for stmt in split_statements(text):
        m = re.match(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*)\)", stmt, re.S | re.I)
        if not m:
            continue
        cols = []
        for line in m.group(2).splitlines():
            word = line.strip().split(" ", 1)[0].strip(",")
            if word and word.upper() not in ("PRIMARY", "UNIQUE", "KEY", "INDEX", "CONSTRAINT",
                                             "FOREIGN", "CHECK", "FULLTEXT", ")"):
                cols.append(word)
        tables[m.group(1)] = cols
    return tables


def test_schema_files_declare_same_columns() -> None:
    # catches drift without any server; the live test below also checks keys and nullability
    mysql, sqlite = (
        _columns_from_text(schema_text("mysql")),
        _columns_from_text(schema_text("sqlite")),
    )
    assert "users" in mysql and "schema_version" in mysql
    assert {t: sorted(c) for t, c in sqlite.items()} == {t: sorted(c) for t, c in mysql.items()}


def test_every_mysql_table_uses_the_house_options() -> None:
    for stmt in split_statements(schema_text("mysql")):
        if stmt.upper().startswith("CREATE TABLE"):
            assert stmt.rstrip().endswith(
                "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            ), stmt.splitlines()[0]


async def _sqlite_shape(db: Database) -> dict[str, object]:
    shape: dict[str, object] = {}
    tables = await db.fetch_all(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    for t in tables:
        name = t["name"]
        cols = await db.fetch_all(f"PRAGMA table_info({name})")
        columns = {c["name"]: bool(c["notnull"]) or bool(c["pk"]) for c in cols}
        uniques = set()
        for idx in await db.fetch_all(f"PRAGMA index_list({name})"):
            if idx["unique"] and idx["origin"] != "pk":
                info = await db.fetch_all(f"PRAGMA index_info({idx['name']})")
                uniques.add(tuple(i["name"] for i in sorted(info, key=lambda i: i["seqno"])))
        shape[name] = (columns, uniques)
    return shape


async def _mysql_shape(db: Database) -> dict[str, object]:
    shape: dict[str, object] = {}
    cols = await db.fetch_all(
        "SELECT table_name AS t, column_name AS c, is_nullable AS n FROM information_schema.columns"
        " WHERE table_schema = DATABASE()"
    )
    for c in cols:
        shape.setdefault(c["t"], ({}, set()))[0][c["c"]] = c["n"] == "NO"  # type: ignore[index]
    stats = await db.fetch_all(
        "SELECT table_name AS t, index_name AS i, column_name AS c, seq_in_index AS s"
        " FROM information_schema.statistics WHERE table_schema = DATABASE()"
        " AND non_unique = 0 AND index_name <> 'PRIMARY' ORDER BY t, i, s"
    )
    keys: dict[tuple[str, str], list[str]] = {}
    for s in stats:
        keys.setdefault((s["t"], s["i"]), []).append(s["c"])
    for (t, _), columns in keys.items():
        shape[t][1].add(tuple(columns))  # type: ignore[index]
    return shape


@pytest.mark.mysql
async def test_live_schemas_match(sqlite_db: Database, mysql_db: Database) -> None:
    lite = await _sqlite_shape(sqlite_db)
    my = await _mysql_shape(mysql_db)
    # tables that tests create on the fly are not part of the schema, and the full-text
    # index differs per dialect by nature (stompim.store.search_index)
    my = {t: v for t, v in my.items() if not t.startswith(("t_", SEARCH_TABLE))}
    lite = {t: v for t, v in lite.items() if not t.startswith(("t_", FTS_TABLE))}
    assert sorted(lite) == sorted(my)
    for table in my:
        assert lite[table] == my[table], table


async def test_migrate_on_existing_database_keeps_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    db = await open_database(url)
    try:
        await migrate(db)
        await db.execute(
            "INSERT INTO users (username, password_hash, nickname, created_at, updated_at)"
            " VALUES ('keep', 'h', 'n', 1, 1)"
        )
    finally:
        await db.close()
    db = await open_database(url)
    try:
        assert await migrate(db) == SCHEMA_VERSION
        assert await db.fetch_val("SELECT username FROM users") == "keep"
    finally:
        await db.close()


def test_all_is_complete() -> None:
    public = {n for n in vars(store) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(store, n)).__name__ == "module"}
    assert set(store.__all__) == public - modules


async def test_added_columns_reach_existing_tables(db: Database) -> None:
    """A table created before a column existed gets it on the next migrate, once."""
    await db.execute("CREATE TABLE IF NOT EXISTS evolving (id BIGINT NOT NULL PRIMARY KEY)")
    await db.execute("INSERT INTO evolving (id) VALUES (1)")
    column = AddedColumn(
        "evolving", "flag", "TINYINT NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"
    )
    try:
        assert await add_missing_columns(db, (column,)) == ["evolving.flag"]
        assert "flag" in await column_names(db, "evolving")
        assert await db.fetch_val("SELECT flag FROM evolving WHERE id = 1") == 0
        assert await add_missing_columns(db, (column,)) == []
    finally:
        await db.execute("DROP TABLE evolving")


def test_added_columns_are_in_both_schema_files() -> None:
    """A new database gets every added column from the CREATE statements themselves."""
    for dialect in ("sqlite", "mysql"):
        text = schema_text(dialect)
        for column in ADDED_COLUMNS:
            create = re.search(
                rf"CREATE TABLE IF NOT EXISTS `?{column.table}`? \((.*?)\n\)", text, re.S
            )
            assert create is not None, (dialect, column.table)
            assert re.search(rf"\b{column.name}\b", create.group(1)), (dialect, column)
