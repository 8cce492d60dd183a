"""Pure parts of the backends: URL parsing and the `?` -> `%s` translation."""

from __future__ import annotations

import pytest

from stompim.store._mysql import parse_mysql_url, translate
from stompim.store._sqlite import sqlite_path
from stompim.store.migrate import split_statements


def test_sqlite_paths() -> None:
    assert sqlite_path("sqlite:///./stompim.db") == "./stompim.db"
    assert sqlite_path("sqlite:///data/x.db") == "data/x.db"
    assert sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"
    assert sqlite_path("sqlite:///:memory:") == ":memory:"
    assert sqlite_path("sqlite://") == ":memory:"
    with pytest.raises(ValueError):
        sqlite_path("sqlite://host/x.db")


def test_mysql_url() -> None:
    kw = parse_mysql_url("mysql://us%40er:p%3Ass%2Fw@db.local:3307/im?charset=utf8mb4&connect_timeout=3")
    assert kw == {"host": "db.local", "port": 3307, "user": "us@er", "password": "p:ss/w",
                  "db": "im", "charset": "utf8mb4", "connect_timeout": 3.0}
    kw = parse_mysql_url("mysql://root@127.0.0.1/stompim")
    assert (kw["port"], kw["user"], kw["password"], kw["charset"]) == (3306, "root", "", "utf8mb4")
    with pytest.raises(ValueError):
        parse_mysql_url("mysql://root@127.0.0.1/")
    with pytest.raises(ValueError):
        parse_mysql_url("mysql://root@127.0.0.1/x?bogus=1")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT ? , ?", "SELECT %s , %s"),
        ("SELECT '?' , ?", "SELECT '?' , %s"),
        ('SELECT "a?b", `c?`, ?', 'SELECT "a?b", `c?`, %s'),
        ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', %s"),
        ("SELECT 'a\\'?', ?", "SELECT 'a\\'?', %s"),
        ("WHERE x LIKE '10%' AND y = ?", "WHERE x LIKE '10%%' AND y = %s"),
        ("SELECT 5 % 2", "SELECT 5 %% 2"),
    ],
)
def test_translate(sql: str, expected: str) -> None:
    assert translate(sql) == expected


def test_split_statements() -> None:
    text = (
        "-- head; comment;\nCREATE TABLE a (\n  x INT -- trailing? no\n);\n\n"
        "-- c\nCREATE TABLE b (y INT);\n"
    )
    assert split_statements(text) == [
        "CREATE TABLE a (\n  x INT -- trailing? no\n)",
        "CREATE TABLE b (y INT)",
    ]
