"""Persistence: the async SQL `Database` (SQLite or MySQL), schema migration, the
key-value store (Redis or in-process) and the repositories built on them.

Call order at start-up: `open_database(url)` -> `migrate(db)` -> repositories;
`open_kv(url, prefix=...)`; at shutdown `kv.close()` and `db.close()`.
"""

from __future__ import annotations

from stompim.store.database import (
    Database,
    ExecResult,
    IntegrityError,
    Tx,
    escape_like,
    open_database,
)
from stompim.store.kv import KeyValue, KvTypeError, Subscription, open_kv
from stompim.store.kv_memory import MemoryKeyValue
from stompim.store.migrate import SCHEMA_VERSION, migrate
from stompim.store.users import UserRecord, UserRepository

__all__ = [
    "SCHEMA_VERSION",
    "Database",
    "ExecResult",
    "IntegrityError",
    "KeyValue",
    "KvTypeError",
    "MemoryKeyValue",
    "Subscription",
    "Tx",
    "UserRecord",
    "UserRepository",
    "escape_like",
    "migrate",
    "open_database",
    "open_kv",
]
