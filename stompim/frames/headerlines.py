"""Header lines -> ``(name, value)`` pairs, through a bounded cache shared by all parsers.

Why a cache: real traffic repeats most header lines byte for byte
(``destination:/topic/x``, ``content-type:...``, ``subscription:0``), and a dictionary
hit on the raw line bytes is several times cheaper than decoding, splitting and
unescaping it again.  The pair depends only on the line bytes and on the escaping
mode, so there is one cache per mode (:data:`RAW`: STOMP 1.0 and the never-escaped
CONNECT/STOMP/CONNECTED frames; :data:`V11`; :data:`V12`) and an entry can never
be wrong for another connection.

Call order: the parser splits a frame's head into lines (EOLs removed) and maps each
line through ``cache.__getitem__``.  A miss runs :meth:`HeaderLineCache.__missing__`,
which decodes the line (spec 1.2 "Value Encoding": UTF-8, name before the FIRST
``:``, escapes per version) and raises :class:`~.errors.MalformedFrame` for a bad
line; bad lines are never stored.

Bounds: only lines up to :data:`MAX_CACHED_LINE` bytes are stored (long lines, such
as tokens, rarely repeat, and this caps memory), and a cache holding
:data:`MAX_ENTRIES` lines is emptied before the next store.  Worst case, all three
caches together hold a few megabytes.
"""

from __future__ import annotations

from collections.abc import Callable

from .commands import V1_0, V1_1, V1_2
from .errors import LocalProtocolError, MalformedFrame
from .escaping import unescape_11, unescape_12

__all__ = [
    "MAX_CACHED_LINE",
    "MAX_ENTRIES",
    "MAX_PER_NAME",
    "RAW",
    "V11",
    "V12",
    "HeaderLineCache",
    "cache_for",
    "clear_caches",
]

MAX_ENTRIES = 4096
MAX_CACHED_LINE = 128
MAX_PER_NAME = 256


class HeaderLineCache(dict[bytes, tuple[str, str]]):
    """``line bytes -> (name, value)`` for one escaping mode; misses decode the line."""

    __slots__ = ("_full", "_per_name", "_unescape")

    def __init__(self, unescape: Callable[[str], str] | None) -> None:
        super().__init__()
        self._unescape = unescape
        # Lines stored per header name since the last clear.  A name whose values
        # rarely repeat (message-id, receipt) would fill the cache with lines that
        # never hit, and storing costs more than it saves, so past MAX_PER_NAME
        # lines a name's new values are decoded but not stored: its name goes into
        # ``_full``, which is checked first.
        self._per_name: dict[str, int] = {}
        self._full: set[str] = set()

    def __missing__(self, line: bytes) -> tuple[str, str]:
        # Few operations on purpose: in busy traffic a miss per frame is normal
        # (message-id, receipt), so this is part of the hot path.
        try:
            # The name ends at the FIRST colon; values may hold more.
            name, colon, value = line.decode().partition(":")
        except UnicodeDecodeError as exc:
            raise MalformedFrame(f"frame head is not valid UTF-8 ({exc.reason})") from None
        if not colon:
            raise MalformedFrame(f"header line {line.decode()[:64]!r} has no ':'")
        if 92 in line and self._unescape is not None:  # 92: backslash
            name, value = self._unescape(name), self._unescape(value)
        pair = (name, value)
        if name in self._full or len(line) > MAX_CACHED_LINE:
            return pair
        if len(self) >= MAX_ENTRIES:
            self.forget()
        per_name = self._per_name
        stored = per_name[name] = per_name.get(name, 0) + 1
        if stored >= MAX_PER_NAME:
            self._full.add(name)
        self[line] = pair
        return pair

    def forget(self) -> None:
        """Drop every entry and the per-name counts."""
        self.clear()
        self._per_name.clear()
        self._full.clear()


RAW = HeaderLineCache(None)
V11 = HeaderLineCache(unescape_11)
V12 = HeaderLineCache(unescape_12)


def cache_for(version: str) -> HeaderLineCache:
    """The cache for headers of escaped frames in ``version`` (1.0 escapes nothing)."""
    if version == V1_2:
        return V12
    if version == V1_1:
        return V11
    if version == V1_0:
        return RAW
    raise LocalProtocolError(f"unsupported STOMP version {version!r}")


def clear_caches() -> None:
    """Empty all three caches (for tests and benchmarks that must start cold)."""
    for cache in (RAW, V11, V12):
        cache.forget()
