"""`stompim doctor`: one OK/WARN/FAIL line per check, exit 1 on any FAIL.

Services are made to fail without touching the machine's own: Redis and MariaDB are
"stopped" by pointing the configuration at a closed loopback port, a port is "busy" by
holding it with a bare listening socket, and a real node holds the ports it serves.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop._fullnode import FullNode
from interop._loop import LoopThread

from stompim.store import SCHEMA_VERSION, open_database

from ._support import Cli, Result

LINE = re.compile(r"(OK|WARN|FAIL) +(config|database|schema|redis|port) +\S.*")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def doctor(cli: Cli) -> Cli:
    """`cli` with free ports for the three listeners."""
    cli.env.update(
        STOMPIM_SERVER_HTTP_PORT=str(free_port()),
        STOMPIM_SERVER_WS_PORT=str(free_port()),
        STOMPIM_SERVER_TCP_PORT=str(free_port()),
    )
    return cli


def checks(result: Result) -> dict[str, list[str]]:
    """area -> its lines; every line but the summary must be a check line."""
    *lines, summary = result.lines
    assert re.fullmatch(r"doctor: \d+ failed, \d+ warning\(s\), \d+ ok", summary), summary
    found: dict[str, list[str]] = {}
    for line in lines:
        match = LINE.fullmatch(line)
        assert match, f"not a check line: {line!r}"
        found.setdefault(match[2], []).append(line)
    return found


def test_a_ready_embedded_machine_passes(doctor: Cli) -> None:
    assert doctor("migrate").code == 0
    result = doctor("doctor")
    assert result.code == 0, result.out
    found = checks(result)
    assert found["config"][0].startswith("OK   config   loaded ")
    assert found["database"][0].startswith("OK   database sqlite at sqlite:///")
    assert found["schema"] == [f"OK   schema   version {SCHEMA_VERSION}, as this stompim expects"]
    assert found["redis"][0].startswith("OK   redis    not configured")
    assert len(found["port"]) == 3 and all(" is free" in ln for ln in found["port"])


def test_example_secret_and_production_settings_warn(doctor: Cli) -> None:
    del doctor.env["STOMPIM_AUTH_JWT_SECRET"]
    result = doctor("doctor")
    assert result.code == 0
    assert any("OK   config   auth.jwt_secret not set: a random secret kept in" in ln
               for ln in checks(result)["config"])
    doctor.env.update(STOMPIM_SERVER_PRODUCTION="true", STOMPIM_AUTH_JWT_SECRET="p" * 40)
    result = doctor("doctor")
    warnings = " ".join(checks(result)["config"])
    for expected in ("production on SQLite", "production without Redis", 'sms.sender = "outbox"'):
        assert expected in warnings
    doctor.env.pop("STOMPIM_AUTH_JWT_SECRET")
    doctor.monkeypatch.delenv("STOMPIM_AUTH_JWT_SECRET")
    refused = doctor("doctor")  # production without a secret does not even load
    assert refused.code == 1
    assert refused.lines[0].startswith("FAIL config   auth.jwt_secret is not set")


def test_invalid_configuration_fails(doctor: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[log]\nformat = "xml"\n')
    result = doctor("--config", str(bad), "doctor")
    assert result.code == 1
    assert result.lines[0].startswith("FAIL config   log.format must be one of")


def test_missing_sqlite_file_warns_without_creating_it(doctor: Cli, tmp_path: Path) -> None:
    result = doctor("doctor")
    assert result.code == 0
    assert checks(result)["database"][0].startswith("WARN database no database file at ")
    assert not (tmp_path / "cli.db").exists()


def test_stopped_redis_fails(doctor: Cli, closed_port: int) -> None:
    doctor.env["STOMPIM_REDIS_URL"] = f"redis://:hunter2x@127.0.0.1:{closed_port}/0"
    result = doctor("doctor", "--timeout", "2")
    assert result.code == 1
    (line,) = checks(result)["redis"]
    assert line.startswith(f"FAIL redis    cannot reach redis://:***@127.0.0.1:{closed_port}/0")
    assert "-> start Redis or fix redis.url" in line
    assert "hunter2x" not in result.out + result.err


@pytest.mark.redis
def test_running_redis_passes(doctor: Cli, redis_url: str) -> None:
    doctor.env["STOMPIM_REDIS_URL"] = redis_url
    (line,) = checks(doctor("doctor"))["redis"]
    assert line.startswith(f"OK   redis    {redis_url} answered PING in ")


def test_busy_port_fails(doctor: Cli, busy_port: int) -> None:
    doctor.env["STOMPIM_SERVER_WS_PORT"] = str(busy_port)
    result = doctor("doctor", "--timeout", "2")
    assert result.code == 1
    busy = [ln for ln in checks(result)["port"] if ln.startswith("FAIL")]
    assert busy == [
        f"FAIL port     WebSocket 127.0.0.1:{busy_port} is in use by another program (not a "
        f"stompim node) -> stop it (`ss -ltnp 'sport = :{busy_port}'` names it) or choose "
        "another port (--ws-port)"
    ]


@pytest.fixture
def running_node(loop_thread: LoopThread, tmp_path: Path) -> Iterator[FullNode]:
    node = FullNode(loop_thread, tmp_path / "running.db")
    node.start()
    try:
        yield node
    finally:
        node.stop()


def test_ports_of_a_running_node_are_named(doctor: Cli, running_node: FullNode) -> None:
    ports = running_node.ports
    doctor.env.update(STOMPIM_SERVER_HTTP_PORT=str(ports.http),
                      STOMPIM_SERVER_WS_PORT=str(ports.ws),
                      STOMPIM_SERVER_TCP_PORT=str(ports.tcp))
    result = doctor("doctor")
    assert result.code == 0, result.out  # a node already serving is not a failure
    rest, ws, tcp = checks(result)["port"]
    assert rest.startswith(f"WARN port     REST 127.0.0.1:{ports.http} is served by a stompim "
                           "node (GET /health answered)")
    assert ws.startswith(f"WARN port     WebSocket 127.0.0.1:{ports.ws} is served by a STOMP "
                         "WebSocket endpoint at /ws")
    assert tcp.startswith(f"WARN port     STOMP TCP 127.0.0.1:{ports.tcp} is served by a STOMP "
                          "server")


@pytest.mark.mysql
@pytest.mark.redis
@pytest.mark.parametrize("node_backend", ["mysql+redis"], indirect=True)
def test_mariadb_schema_states(doctor: Cli, node_backend: dict[str, dict[str, str]]) -> None:
    """node_backend's MariaDB database is new and empty."""
    url = node_backend["database"]["url"]
    doctor.env["STOMPIM_DATABASE_URL"] = url
    found = checks(doctor("doctor"))
    assert found["database"][0].startswith("OK   database mysql at mysql://root@")
    assert found["schema"] == ["WARN schema   no schema yet (empty database) -> `stompim "
                               "migrate` or the first `stompim serve` creates it"]
    assert doctor("migrate").code == 0
    assert checks(doctor("doctor"))["schema"][0].startswith("OK   schema   version ")

    async def newer() -> None:
        db = await open_database(url)
        try:
            await db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, 0)",
                             (SCHEMA_VERSION + 1,))
        finally:
            await db.close()

    asyncio.run(newer())
    result = doctor("doctor")
    assert result.code == 1
    assert checks(result)["schema"] == [
        f"FAIL schema   version {SCHEMA_VERSION + 1} is newer than this stompim's "
        f"{SCHEMA_VERSION} -> upgrade stompim to the version that wrote it"
    ]


def test_unreachable_mariadb_fails_in_time(doctor: Cli, closed_port: int) -> None:
    doctor.env["STOMPIM_DATABASE_URL"] = f"mysql://root@127.0.0.1:{closed_port}/im"
    result = doctor("doctor", "--timeout", "2")
    assert result.code == 1
    (line,) = checks(result)["database"]
    assert line.startswith(f"FAIL database cannot connect to mysql://root@127.0.0.1:{closed_port}")
    assert "schema" not in checks(result)


def test_silent_services_are_bounded_by_the_timeout(doctor: Cli, busy_port: int) -> None:
    """A server that accepts and never answers (a hung Redis or MariaDB) fails the check
    after --timeout instead of hanging the doctor."""
    doctor.env["STOMPIM_DATABASE_URL"] = f"mysql://root@127.0.0.1:{busy_port}/im"
    doctor.env["STOMPIM_REDIS_URL"] = f"redis://127.0.0.1:{busy_port}/0"
    started = time.monotonic()
    result = doctor("doctor", "--timeout", "1")
    assert time.monotonic() - started < 15
    assert result.code == 1
    found = checks(result)
    assert found["database"][0].endswith(
        "no answer within 1 s -> start the database server or fix database.url "
        "(STOMPIM_DATABASE_URL)"
    )
    assert "no answer within 1 s" in found["redis"][0]
