"""Wall-clock time as epoch milliseconds, the unit every stored timestamp uses.

Services take a `Clock` argument (default `now_ms`) so tests can move time forward
(invitation expiry) without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]


def now_ms() -> int:
    """Milliseconds since the epoch, as stored in BIGINT columns."""
    return time.time_ns() // 1_000_000
