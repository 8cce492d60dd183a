"""One result line of `stompim doctor`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAIL", "OK", "WARN", "Check"]

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    """`status` OK/WARN/FAIL, the `area` checked, what was found, and what to do."""

    status: str
    area: str
    message: str
    hint: str = ""

    def line(self) -> str:
        text = f"{self.status:<5}{self.area:<9}{self.message}"
        return f"{text} -> {self.hint}" if self.hint else text
