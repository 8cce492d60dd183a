"""Synapse (PyPI `matrix-synapse`) as an anchor: its own venv, config, database, process.

Everything lives in the bench work folder (`work_dir()/synapse`, outside the git tree
and outside the project venv):

- `ensure_venv()`: a venv with `matrix-synapse[postgres]==SYNAPSE_VERSION`, built once
  (pip only when the import or the version does not match).
- `render_config()`: homeserver.yaml as JSON (YAML is a superset of JSON, so no YAML
  library is needed), rewritten every run: one loopback client listener, no
  federation listener, no key servers, metrics and stats off, presence off, every
  rate limiter lifted (`RATE_LIMITS`), registration through the shared secret only.
- the database, fresh for every run: SQLite (a file in the work folder) or
  PostgreSQL (database `synapse_bench` on 127.0.0.1:5432 with trust auth, dropped and
  created UTF8 / C collation as Synapse requires).
- `start_synapse()`: `--generate-keys` once, then the homeserver as a child process,
  ready when `/_matrix/client/versions` answers; SIGTERM on exit.

Call order: `async with start_synapse("sqlite") as hs: await hs.register(...)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.measure import log
from bench.targets import TargetUnavailable, port_open, stop_process, wait_port, work_dir

SYNAPSE_VERSION = "1.163.2"
SYNAPSE_PORT = 18008
SERVER_NAME = "bench.local"
SHARED_SECRET = "stompim-bench-registration-secret"  # loopback only, a throw-away server
PG_HOST, PG_PORT, PG_USER, PG_DB = "127.0.0.1", 5432, "postgres", "synapse_bench"
DATABASES = ("sqlite", "postgresql")
_UNLIMITED = {"per_second": 1_000_000, "burst_count": 1_000_000}
RATE_LIMITS: dict[str, Any] = {
    key: _UNLIMITED
    for key in (
        "rc_message",
        "rc_registration",
        "rc_joins_per_room",
        "rc_room_creation",
        "rc_admin_redaction",
        "rc_key_requests",
        "rc_3pid_validation",
        "rc_third_party_invite",
        "rc_media_create",
        "rc_profile",
        "rc_user_directory",
        "rc_reports",
        "rc_delayed_event_mgmt",
    )
} | {
    "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_federation": {"window_size": 1000, "sleep_limit": 1_000_000, "reject_limit": 1_000_000,
                      "concurrent": 1000},
}


def base_dir() -> Path:
    return work_dir() / "synapse"


def venv_python() -> Path:
    return base_dir() / "venv" / "bin" / "python"


def database_section(kind: str, folder: Path) -> dict[str, Any]:
    if kind == "sqlite":
        return {"name": "sqlite3", "args": {"database": str(folder / "homeserver.db")}}
    if kind == "postgresql":
        return {
            "name": "psycopg2",
            "args": {"user": PG_USER, "host": PG_HOST, "port": PG_PORT, "database": PG_DB,
                     "cp_min": 5, "cp_max": 10},
        }
    raise ValueError(f"database {kind!r}: use one of {', '.join(DATABASES)}")


def render_config(kind: str, folder: Path, port: int = SYNAPSE_PORT) -> dict[str, Any]:
    """homeserver.yaml's content for database `kind`, files under `folder`."""
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(folder / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": database_section(kind, folder),
        "log_config": str(folder / "log.config"),
        "media_store_path": str(folder / "media"),
        "signing_key_path": str(folder / "signing.key"),
        "registration_shared_secret": SHARED_SECRET,
        "enable_registration": False,
        "macaroon_secret_key": "stompim-bench-macaroon",
        "form_secret": "stompim-bench-form",
        "report_stats": False,
        "enable_metrics": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        **RATE_LIMITS,
    }


LOG_CONFIG = """version: 1
formatters:
  precise:
    format: '%(asctime)s %(name)s %(levelname)s %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: {path}
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"""


def ensure_venv() -> list[str]:
    """The Synapse venv, built (or upgraded to SYNAPSE_VERSION) only when needed."""
    py = venv_python()
    if py.exists() and installed_version() == SYNAPSE_VERSION:
        return []
    log(f"  synapse: building {py.parent.parent} with matrix-synapse {SYNAPSE_VERSION} ...")
    base_dir().mkdir(parents=True, exist_ok=True)
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(py.parent.parent)], check=True)
    r = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", f"matrix-synapse[postgres]=={SYNAPSE_VERSION}"],
        capture_output=True, text=True, timeout=1800,
    )
    if r.returncode != 0:
        raise TargetUnavailable(f"pip install matrix-synapse failed: {r.stderr.strip()[-400:]}")
    return [f"venv {py.parent.parent}: pip install matrix-synapse[postgres]=={SYNAPSE_VERSION}"]


def installed_version() -> str:
    r = subprocess.run(
        [str(venv_python()), "-c", "import synapse; print(synapse.__version__)"],
        capture_output=True, text=True,
    )
    return r.stdout.strip() or "?"


def _psql(sql: str, db: str = "postgres") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", db, "-v",
         "ON_ERROR_STOP=1", "-qAtc", sql],
        capture_output=True, text=True, timeout=120,
    )


def reset_postgres() -> str:
    """Drop and create `synapse_bench` (UTF8, C collation); returns the server version."""
    r = _psql("SELECT version()")
    if r.returncode != 0:
        raise TargetUnavailable(f"PostgreSQL at {PG_HOST}:{PG_PORT} unreachable: {r.stderr}")
    version = r.stdout.strip()
    settings = _psql("SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM"
                     " pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers')")
    version += f" ({settings.stdout.strip()})"
    for sql in (
        f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)",
        f"CREATE DATABASE {PG_DB} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        f" TEMPLATE template0 OWNER {PG_USER}",
    ):
        r = _psql(sql)
        if r.returncode != 0:
            raise TargetUnavailable(f"{sql}: {r.stderr.strip()}")
    return version


def postgres_pid() -> int | None:
    """The PostgreSQL postmaster (its backends are its children)."""
    import psutil

    for p in psutil.process_iter(["name", "ppid"]):
        if p.info["name"] in ("postgres", "postmaster"):
            try:
                parent = psutil.Process(p.info["ppid"]).name()
            except psutil.Error:
                continue
            if parent not in ("postgres", "postmaster"):
                return int(p.pid)
    return None


def registration_mac(nonce: str, user: str, password: str, admin: bool = False) -> str:
    """HMAC-SHA1 of the shared-secret registration (Synapse admin API)."""
    mac = hmac.new(SHARED_SECRET.encode(), digestmod=hashlib.sha1)
    for part in (nonce, user, password):
        mac.update(part.encode())
        mac.update(b"\x00")
    mac.update(b"admin" if admin else b"notadmin")
    return mac.hexdigest()


@dataclass(frozen=True)
class MatrixUser:
    user_id: str
    token: str


@dataclass
class Homeserver:
    """A running Synapse: its URL, pid, database kind and what its setup did."""

    base: str
    pid: int
    database: str
    notes: list[str] = field(default_factory=list)
    db_pid: int | None = None
    session: aiohttp.ClientSession | None = None

    async def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> dict[str, Any]:
        assert self.session is not None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, self.base + path, json=body, headers=headers) as r:
            data = await r.json(content_type=None)
            if r.status != 200:
                raise RuntimeError(f"{method} {path}: HTTP {r.status} {str(data)[:200]}")
            return dict(data)

    async def register(self, username: str, password: str) -> MatrixUser:
        nonce = (await self.call("GET", "/_synapse/admin/v1/register"))["nonce"]
        data = await self.call(
            "POST",
            "/_synapse/admin/v1/register",
            body={
                "nonce": nonce,
                "username": username,
                "password": password,
                "admin": False,
                "mac": registration_mac(nonce, username, password),
            },
        )
        return MatrixUser(data["user_id"], data["access_token"])

    async def direct_room(self, a: MatrixUser, b: MatrixUser) -> str:
        """A private room of a and b (a creates and invites, b joins): a 1:1 chat."""
        room = await self.call(
            "POST",
            "/_matrix/client/v3/createRoom",
            a.token,
            {"preset": "trusted_private_chat", "invite": [b.user_id], "is_direct": True},
        )
        room_id = str(room["room_id"])
        await self.call("POST", f"/_matrix/client/v3/join/{room_id}", b.token, {})
        return room_id


@contextlib.asynccontextmanager
async def start_synapse(kind: str) -> AsyncIterator[Homeserver]:
    """A fresh Synapse on database `kind` ("sqlite" or "postgresql"), stopped on exit."""
    if kind not in DATABASES:
        raise ValueError(f"database {kind!r}: use one of {', '.join(DATABASES)}")
    notes = await asyncio.to_thread(ensure_venv)
    if port_open(SYNAPSE_PORT):
        raise TargetUnavailable(f"port {SYNAPSE_PORT} is busy")
    folder = base_dir() / kind
    shutil.rmtree(folder, ignore_errors=True)  # a fresh database and media store every run
    folder.mkdir(parents=True)
    db_pid = None
    if kind == "postgresql":
        notes.append(await asyncio.to_thread(reset_postgres))
        notes.append(f"database {PG_DB} on {PG_HOST}:{PG_PORT} (dropped and created)")
        db_pid = postgres_pid()
    config = folder / "homeserver.yaml"
    config.write_text(json.dumps(render_config(kind, folder), indent=2) + "\n")
    (folder / "log.config").write_text(LOG_CONFIG.format(path=folder / "homeserver.log"))
    py = str(venv_python())
    r = await asyncio.to_thread(
        subprocess.run,
        [py, "-m", "synapse.app.homeserver", "-c", str(config), "--generate-keys"],
        capture_output=True, text=True, timeout=120,
    )
    if r.returncode != 0:
        raise TargetUnavailable(f"synapse --generate-keys failed: {r.stderr.strip()[-400:]}")
    logf = open(folder / "stdout.log", "wb")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.Popen(
        [py, "-m", "synapse.app.homeserver", "-c", str(config)],
        cwd=folder, stdout=logf, stderr=subprocess.STDOUT, env=env,
    )
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256), timeout=aiohttp.ClientTimeout(total=120)
    )
    try:
        try:
            await wait_port(SYNAPSE_PORT, proc, 180)
        except TargetUnavailable as exc:
            logf.flush()
            tail = (folder / "stdout.log").read_text(errors="replace")[-1500:]
            raise TargetUnavailable(f"Synapse did not start: {exc}; log tail:\n{tail}") from None
        hs = Homeserver(f"http://127.0.0.1:{SYNAPSE_PORT}", proc.pid, kind, notes, db_pid, session)
        await hs.call("GET", "/_matrix/client/versions")
        venv = venv_python().parent.parent
        notes.insert(0, f"Synapse {installed_version()} ({kind}), venv {venv}")
        notes.append(
            f"config {config}: presence off, metrics off, no federation listener, "
            "every rc_* rate limit at 1,000,000/s"
        )
        yield hs
    finally:
        await session.close()
        stop_process(proc)
        logf.close()
