"""Integers in STOMP headers and destination names: ASCII digits only, bounded.

`int()` alone is too lenient for the wire: it accepts Unicode digits ("²", "٣"),
signs, spaces and underscores, and any size; a 30-digit value would then fail deep
in a database driver.  Every integer the broker reads from a client goes through
`parse_uint`.
"""

from __future__ import annotations

__all__ = ["MAX_INT64", "parse_uint"]

MAX_INT64 = 2**63 - 1
"""The largest value a signed 64-bit column (MySQL BIGINT, SQLite INTEGER) holds."""


def parse_uint(text: str, maximum: int = MAX_INT64) -> int | None:
    """The value of `text` if it is 1..19 ASCII digits and at most `maximum`, else None."""
    if not text or len(text) > 19 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= maximum else None
