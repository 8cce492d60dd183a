"""Readiness of the node's dependencies: can the database and the key-value store answer?

Call `await readiness(db, kv, seconds)` (the REST `/readyz` does, per request): each
dependency gets one trivial request (`SELECT 1`, a Redis PING), concurrently, each
bounded by `seconds` whatever the store's own timeouts. The answer maps a
dependency name ("database", "redis"; "redis" only when the store is Redis) to "ok" or
to why it is not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from stompim.store.database import Database
from stompim.store.kv import KeyValue
from stompim.store.kv_memory import MemoryKeyValue

__all__ = ["readiness"]


async def _state(step: Awaitable[object], seconds: float) -> str:
    try:
        async with asyncio.timeout(seconds):
            await step
    except TimeoutError:
        return f"no answer within {seconds:g} s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return "ok"


async def readiness(db: Database, kv: KeyValue, seconds: float = 1.0) -> dict[str, str]:
    """{"database": "ok" | reason, "redis": "ok" | reason} (see the module docstring)."""
    checks: dict[str, Awaitable[object]] = {"database": db.fetch_val("SELECT 1")}
    if not isinstance(kv, MemoryKeyValue):  # in process, it cannot be down
        checks["redis"] = kv.ping()
    states = await asyncio.gather(*(_state(step, seconds) for step in checks.values()))
    return dict(zip(checks, states, strict=True))
