"""Give memory freed after a burst back to the system (glibc's `malloc_trim`).

Large frames, partial frames held before CONNECT and queued messages are allocated on
the C heap.  When a burst ends they are freed, but glibc keeps freed heap memory in
the process (only the top of the main heap is returned by itself, and a fragment still
in use above the freed ones pins them), so the node's RSS stays at its peak long after
the burst: measured at +20 MiB after 100 WebSocket connections each left 900 KB
(tests/hostile/test_memory.py).  `malloc_trim(0)` releases the free pages of every
arena with `madvise`, whatever lies above them.

`HeapTrimmer.maybe_trim(now)` runs from the broker's sweep: at most once per
`period` it asks `mallinfo2()` how many bytes the heap holds free (about 0.1 ms) and,
past `threshold`, trims (about as cheap).  On a C library without these functions
(musl, macOS) it does nothing: those return freed memory on their own terms.

Call order: `HeapTrimmer()` once, then `maybe_trim(now)` as often as convenient.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

__all__ = ["TRIM_PERIOD", "TRIM_THRESHOLD", "HeapTrimmer"]

log = logging.getLogger(__name__)

TRIM_THRESHOLD = 8 * 1024 * 1024
"""Free heap bytes past which the heap is trimmed."""

TRIM_PERIOD = 1.0
"""Seconds between two looks at the heap."""


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost",
    )]


def _glibc() -> Any | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        mallinfo2 = libc.mallinfo2
        malloc_trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    mallinfo2.argtypes = []
    malloc_trim.restype = ctypes.c_int
    malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


class HeapTrimmer:
    __slots__ = ("libc", "next", "period", "threshold", "trimmed", "trims")

    def __init__(self, threshold: int = TRIM_THRESHOLD, period: float = TRIM_PERIOD) -> None:
        self.libc = _glibc()
        self.threshold = threshold
        self.period = period
        self.next = 0.0
        self.trims = 0        # trims done (a counter for /metrics)
        self.trimmed = 0      # free heap bytes there were before them, summed

    @property
    def available(self) -> bool:
        return self.libc is not None

    def free_bytes(self) -> int:
        """Bytes the C heap holds free (0 where mallinfo2 is missing)."""
        if self.libc is None:
            return 0
        info = self.libc.mallinfo2()
        return int(info.fordblks)

    def maybe_trim(self, now: float) -> bool:
        """Trim if the last look was `period` ago and the heap holds more than
        `threshold` free bytes; True when it trimmed."""
        if self.libc is None or now < self.next:
            return False
        self.next = now + self.period
        free = self.free_bytes()
        if free < self.threshold:
            return False
        self.libc.malloc_trim(0)
        self.trims += 1
        self.trimmed += free
        log.debug("returned the heap's free memory to the system (%d bytes free)", free)
        return True
