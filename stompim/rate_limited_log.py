"""Log a repeated failure once per interval, with a count, instead of once per request.

Why: when a dependency goes away every request fails the same way; a traceback per
request turns a 15-second outage into megabytes of identical log lines and buries the
first, useful one.  Here the first occurrence of a key is logged at once (with its
traceback when asked), later ones within `interval` seconds are only counted, and the
next line logged for that key says how many were left out::

    log = RateLimitedLog(logging.getLogger(__name__))
    log.error(("unavailable", "database"), "database unavailable: %s", exc)

A key is anything hashable that names "the same failure" (an exception type and a
dependency, a route and an error class).  At most `max_keys` keys are remembered (the
table starts over when full), so unbounded keys cannot grow memory.

Like `errors`, this module imports nothing of stompim: every layer may use it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

__all__ = ["RateLimitedLog"]

DEFAULT_INTERVAL = 10.0
MAX_KEYS = 1024


@dataclass
class _Seen:
    last_logged: float
    suppressed: int = 0


class RateLimitedLog:
    """A logger wrapper that logs each key at most once per `interval` seconds."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._max_keys = max_keys
        self._seen: dict[Hashable, _Seen] = {}

    def log(
        self, level: int, key: Hashable, msg: str, *args: Any, exc_info: Any = None
    ) -> bool:
        """Log `msg % args` unless `key` was logged less than `interval` seconds ago;
        True when it was logged.  A logged line names how many were left out before it."""
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen.last_logged < self.interval:
            seen.suppressed += 1
            return False
        if seen is None and len(self._seen) >= self._max_keys:
            self._seen.clear()
        suppressed = seen.suppressed if seen is not None else 0
        self._seen[key] = _Seen(now)
        if suppressed:
            msg = f"{msg} (%d more like it in the last %.0f s)"
            args = (*args, suppressed, now - seen.last_logged) if seen is not None else args
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, key: Hashable, msg: str, *args: Any, exc_info: Any = None) -> bool:
        return self.log(logging.WARNING, key, msg, *args, exc_info=exc_info)

    def error(self, key: Hashable, msg: str, *args: Any, exc_info: Any = None) -> bool:
        return self.log(logging.ERROR, key, msg, *args, exc_info=exc_info)

    def exception(self, key: Hashable, msg: str, *args: Any) -> bool:
        """`error` with the traceback of the exception being handled."""
        return self.log(logging.ERROR, key, msg, *args, exc_info=True)
