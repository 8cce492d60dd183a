"""The `stompim` command: version, migrate, configuration errors, and a real `serve`."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from stompim import __version__
from stompim.cli import main
from stompim.cli.node import raise_open_file_limit
from stompim.store import SCHEMA_VERSION

_NOFILE = resource.RLIMIT_NOFILE


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"stompim {__version__}"


def test_migrate_creates_the_schema_and_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db_file = tmp_path / "sub" / "im.db"
    monkeypatch.setenv("STOMPIM_DATABASE_URL", f"sqlite:///{db_file}")
    monkeypatch.chdir(tmp_path)
    assert main(["migrate"]) == 0
    assert main(["migrate"]) == 0
    assert f"schema version {SCHEMA_VERSION}" in capsys.readouterr().out
    with sqlite3.connect(db_file) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        versions = conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0]
    assert {"users", "chat_message", "chat_group", "notification", "media_file"} <= tables
    assert versions == 1


def test_raise_open_file_limit_lifts_the_soft_limit_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(_NOFILE)
    low = min(512, hard)
    resource.setrlimit(_NOFILE, (low, hard))
    try:
        assert raise_open_file_limit() == (low, hard)
        assert resource.getrlimit(_NOFILE) == (hard, hard)
        assert raise_open_file_limit() == (hard, hard)  # already raised: unchanged
    finally:
        resource.setrlimit(_NOFILE, (soft, hard))


def _low_soft_file_limit() -> None:
    """Runs in the child before exec: a soft limit below the hard one, as shells often set."""
    hard = resource.getrlimit(_NOFILE)[1]
    resource.setrlimit(_NOFILE, (min(256, hard), hard))


def test_configuration_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nno_such_key = 1\n")
    assert main(["--config", str(bad), "migrate"]) == 2
    assert "server.no_such_key" in capsys.readouterr().err


def test_serve_runs_a_node_on_the_embedded_defaults_and_stops_on_sigterm(tmp_path: Path) -> None:
    """What README's first command does, on free ports, in an empty directory."""
    env = dict(os.environ)
    env.update(
        STOMPIM_SERVER_HTTP_PORT="0", STOMPIM_SERVER_WS_PORT="0", STOMPIM_SERVER_TCP_PORT="0"
    )
    env.pop("STOMPIM_DATABASE_URL", None)
    env.pop("STOMPIM_REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "stompim", "serve"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_low_soft_file_limit,
    )
    try:
        deadline = time.monotonic() + 30
        line = ""
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "serving REST" in line or not line:
                break
        match = re.search(r"http://127\.0\.0\.1:(\d+)/api", line)
        assert match, f"no start-up line, got {line!r}"
        with urllib.request.urlopen(f"http://127.0.0.1:{match[1]}/health", timeout=10) as resp:
            assert json.loads(resp.read())["data"] == {"status": "ok"}
        assert (tmp_path / "stompim.db").exists()
        hard = resource.getrlimit(_NOFILE)[1]
        assert resource.prlimit(proc.pid, _NOFILE) == (hard, hard)  # serve raised its own
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
            assert proc.stderr is not None
            proc.stderr.close()
    assert proc.returncode == 0
