"""An asyncio event loop in a background thread, for tests whose clients block.

stomp.py is threaded and the Node/Chromium clients are subprocesses, so the test
body is synchronous; the broker still needs a running loop.  `LoopThread` runs
`asyncio.run()` in a thread — so leftover tasks are cancelled, async generators
finalised and the default executor shut down exactly as in a normal program —
and lets the test thread submit coroutines to it.

Call order: `start()`, then `run(coro)` any number of times, then `close()`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "interop-loop") -> None:
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: Exception | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("event loop thread did not start")

    def _main(self) -> None:
        try:
            asyncio.run(self._live())
        except Exception as exc:
            self._error = exc
            self._ready.set()

    async def _live(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        """Run `coro` on the loop and wait (bounded) for its result."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("LoopThread.run() before start()")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def close(self, timeout: float = 15.0) -> None:
        """Stop the loop (asyncio.run cleans up) and join the thread."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("event loop thread did not stop")
        if self._error is not None:
            raise RuntimeError("event loop thread failed") from self._error
