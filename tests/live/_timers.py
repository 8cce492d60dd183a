"""A scheduler and a clock that tests move by hand (for services taking `schedule`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Timers:
    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None], list[bool]]] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> Any:
        flag = [False]
        self.pending.append((delay, callback, flag))

        class Handle:
            def cancel(self) -> None:
                flag[0] = True

        return Handle()

    def live(self) -> list[float]:
        return [d for d, _, f in self.pending if not f[0]]

    def fire_all(self) -> None:
        pending, self.pending = self.pending, []
        for _, callback, flag in pending:
            if not flag[0]:
                callback()


class Clock:
    def __init__(self, now: int = 1_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now
