"""The in-process `stompim` runner of the command-line tests (see conftest.py)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest

from stompim.cli import main

__all__ = ["SECRET", "Cli", "Result"]

SECRET = "cli-tests-secret-of-stompim-0123456789abcdef"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


@dataclass
class Cli:
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *argv: str, stdin: str = "") -> Result:
        for key, value in self.env.items():
            self.monkeypatch.setenv(key, value)
        self.monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        self.capsys.readouterr()
        code = main(list(argv))
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)
