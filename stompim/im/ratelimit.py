"""Fixed-window counters in the key-value store, shared by every node through Redis.

A window starts with the first hit on a key (`KeyValue.incr(..., ttl=window)`
sets the expiry only when it creates the key) and ends `window_seconds` later.
Used for failed logins (per account, per IP) and SMS codes (per phone, per IP).

Call order: `is_blocked(key)` before the guarded work, then `hit(key)` for every
counted event; `reset(key)` forgets the key (a successful login).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stompim.im.errors import TOO_MANY_REQUESTS, ImError

if TYPE_CHECKING:
    from stompim.store import KeyValue


def too_many(message: str = "too many requests, try again later") -> ImError:
    return ImError(TOO_MANY_REQUESTS, message, 429)


@dataclass(frozen=True)
class FixedWindowLimiter:
    kv: KeyValue
    name: str
    limit: int
    window_seconds: int

    def _key(self, key: str) -> str:
        return f"ratelimit:{self.name}:{key}"

    async def count(self, key: str) -> int:
        value = await self.kv.get(self._key(key))
        return int(value) if value and value.lstrip("-").isdigit() else 0

    async def is_blocked(self, key: str) -> bool:
        """True when `limit` events were already counted in the current window."""
        return await self.count(key) >= self.limit

    async def hit(self, key: str) -> int:
        """Count one event; returns the count in the window including this one."""
        return await self.kv.incr(self._key(key), 1, ttl=self.window_seconds)

    async def hit_or_refuse(self, key: str, message: str) -> None:
        """Count one event and raise 429 (9005) when it goes over the limit."""
        if await self.hit(key) > self.limit:
            raise too_many(message)

    async def reset(self, key: str) -> None:
        await self.kv.delete(self._key(key))
