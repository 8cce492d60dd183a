"""Shared fills of ordered-stream holes: one handler query for every session with the
same hole (the online members of a group on this node when a publish was lost).

Each session waits `GAP_GRACE_SECONDS` before it asks (Connection._fill_gap); on a busy
loop those waits end a few turns apart, so the first asker's query can be over before
the last one asks.  A finished fill is therefore kept for `keep` seconds after it
completed, as well as while it runs.

Soundness: a fill is shared only with a session whose hole opened at or before the
query started (`asked_at <= started`).  The publish that opened such a hole was made
after its message was committed, so the query sees that message and everything before
it: the rows are what the session would have fetched itself, never an older view that
could make it pass a hole over (stompim.broker.subscribe `_release`).  A session whose
hole opened later gets a query of its own.  A failed or cancelled fill is never kept:
the next asker retries.

Call order: `SharedFills(loop, clock, keep, track)`, then `fill(...)` per asker; nothing to
close (kept entries expire by themselves, their timers die with the loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Rows = list[tuple[dict[str, str], bytes]]
Key = tuple[int, str, int]   # (id of the handler, destination, since)

__all__ = ["Rows", "SharedFills"]


@dataclass(slots=True)
class _Fill:
    task: asyncio.Task[Rows]
    started: float   # clock time the query was started


class SharedFills:
    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Callable[[], float],
                 keep: float, track: Callable[[asyncio.Task[Rows]], None]) -> None:
        self.loop = loop
        self.clock = clock    # the askers' clock (the loop's)
        self.keep = keep
        self._track = track   # the broker's task set (cancelled when it closes)
        self._fills: dict[Key, _Fill] = {}
        self.queries = 0      # queries started (tests count them)

    def fill(self, key: Key, asked_at: float,
             query: Callable[[], Awaitable[Rows]]) -> asyncio.Future[Rows]:
        """The rows of the hole `key` for a session whose hole opened at loop time
        `asked_at` (clock time): a running or just finished fill started at or after it, else a new
        `query()`.  The answer is shielded: an asker that goes away does not cancel the
        query for the others."""
        shared = self._fills.get(key)
        if shared is None or shared.started < asked_at:
            shared = self._start(key, query)
        return asyncio.shield(shared.task)

    def _start(self, key: Key, query: Callable[[], Awaitable[Rows]]) -> _Fill:
        async def run() -> Rows:
            return await query()

        self.queries += 1
        shared = self._fills[key] = _Fill(self.loop.create_task(run()), self.clock())
        self._track(shared.task)
        shared.task.add_done_callback(lambda task: self._finished(key, shared))
        return shared

    def _finished(self, key: Key, shared: _Fill) -> None:
        task = shared.task
        if task.cancelled() or task.exception() is not None or self.keep <= 0:
            self._forget(key, shared)
        else:
            self.loop.call_later(self.keep, self._forget, key, shared)

    def _forget(self, key: Key, shared: _Fill) -> None:
        if self._fills.get(key) is shared:   # a newer fill of the same hole stays
            del self._fills[key]

    def __len__(self) -> int:
        return len(self._fills)
