"""Session listeners: tell other parts (presence) when STOMP sessions open and end.

A listener is told `session_opened(principal)` once per session, right after
CONNECTED was queued, and `session_closed(principal)` once when that session
ends for any reason (DISCONNECT, ERROR, timeout, slow consumer, lost transport,
broker shutdown).  A session that never authenticated produces neither call.

Both run as background tasks so a slow listener never delays a session; an
exception is logged and otherwise ignored.  For one session, `session_closed`
starts only after `session_opened` finished, so a listener that keeps a set or a
counter sees the calls in order.

Call order: `Broker.add_session_listener(listener)` before the listeners start
accepting; the broker calls `SessionEvents.opened` / `closed`; `Broker.close()`
waits (bounded) for the calls still running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .auth import Principal

__all__ = ["SessionEvents", "SessionListener"]

log = logging.getLogger(__name__)


class SessionListener(Protocol):
    async def session_opened(self, principal: Principal) -> None:
        """A session of `principal` is CONNECTED."""

    async def session_closed(self, principal: Principal) -> None:
        """That session has ended (called once, after session_opened returned)."""


class SessionEvents:
    """The broker's list of listeners and the tasks running their calls."""

    __slots__ = ("listeners", "tasks")

    def __init__(self) -> None:
        self.listeners: list[SessionListener] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def opened(self, principal: Principal) -> asyncio.Task[None] | None:
        """Start the `session_opened` calls; the task is handed back to `closed`."""
        if not self.listeners:
            return None
        calls = [listener.session_opened for listener in self.listeners]
        return self._spawn(self._run(calls, principal, None))

    def closed(self, principal: Principal, opened: asyncio.Task[None] | None) -> None:
        if not self.listeners:
            return
        calls = [listener.session_closed for listener in self.listeners]
        self._spawn(self._run(calls, principal, opened))

    @staticmethod
    async def _run(
        calls: Sequence[Callable[[Principal], Awaitable[None]]], principal: Principal,
        after: asyncio.Task[None] | None,
    ) -> None:
        if after is not None and not after.done():
            await asyncio.wait([after])   # its own failures are logged by its task
        for call in calls:
            try:
                await call(principal)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("session listener %r failed", call)

    async def drain(self, grace: float) -> None:
        """Wait up to `grace` seconds for running calls, then cancel what is left."""
        if not self.tasks:
            return
        pending = list(self.tasks)
        _, still = await asyncio.wait(pending, timeout=grace)
        for task in still:
            task.cancel()
        if still:
            await asyncio.gather(*still, return_exceptions=True)
