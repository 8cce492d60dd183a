"""Online status, read from KV keys `presence:<userId>`.

The broker side maintains those keys (set while a user has a live STOMP
session on some node, with an expiry refreshed by heart-beats); this module only
reads them, so the answer is the same on every node when Redis is shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stompim.store import KeyValue


def presence_key(user_id: int) -> str:
    return f"presence:{user_id}"


class Presence:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def is_online(self, ids: Iterable[int]) -> dict[int, bool]:
        unique = list(dict.fromkeys(ids))
        flags = await asyncio.gather(*(self._kv.exists(presence_key(u)) for u in unique))
        return dict(zip(unique, flags))
