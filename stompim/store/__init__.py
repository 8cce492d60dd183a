"""Persistence: the async SQL `Database` (SQLite or MySQL), schema migration, the
key-value store (Redis or in-process) and the repositories built on them. The store
knows no business rule and imports nothing of the IM domain above it: it hands out
records (stompim.store.records, users, conversations...) and raises its own errors
(`DuplicateKey`, `NotFoundInStore`, `InvalidValue`; `Unavailable` when a dependency
does not answer), which the domain translates.

Call order at start-up: `open_database(url)` -> `migrate(db)` -> repositories;
`open_kv(url, prefix=...)`; at shutdown `kv.close()` and `db.close()`.
"""

from __future__ import annotations

from stompim.errors import DuplicateKey, InvalidValue, KvTypeError, NotFoundInStore, StoreError
from stompim.store.database import (
    Database,
    ExecResult,
    Timeouts,
    Tx,
    escape_like,
    open_database,
)
from stompim.store.kv import KeyValue, KvOp, KvSettings, Subscription, open_kv
from stompim.store.kv_memory import MemoryKeyValue
from stompim.store.migrate import SCHEMA_VERSION, migrate
from stompim.store.users import UserRecord, UserRepository

__all__ = [
    "SCHEMA_VERSION",
    "Database",
    "DuplicateKey",
    "ExecResult",
    "InvalidValue",
    "KeyValue",
    "KvOp",
    "KvSettings",
    "KvTypeError",
    "MemoryKeyValue",
    "NotFoundInStore",
    "StoreError",
    "Subscription",
    "Timeouts",
    "Tx",
    "UserRecord",
    "UserRepository",
    "escape_like",
    "migrate",
    "open_database",
    "open_kv",
]
