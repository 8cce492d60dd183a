"""Wall-clock time as epoch milliseconds, the unit every stored timestamp uses.

Services take a `Clock` argument (default `now_ms`) so tests can move time forward
(invitation expiry) without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

Clock = Callable[[], int]


class Cancellable(Protocol):
    def cancel(self) -> None: ...


Schedule = Callable[[float, Callable[[], None]], Cancellable]
"""Run a callback after a delay in seconds (default `call_later`: the running loop's);
services that expire things take one so tests can fire timers by hand."""


def call_later(delay: float, callback: Callable[[], None]) -> Cancellable:
    return asyncio.get_running_loop().call_later(delay, callback)


def now_ms() -> int:
    """Milliseconds since the epoch, as stored in BIGINT columns."""
    return time.time_ns() // 1_000_000
