"""`stompim doctor`: is this machine ready to run a node with this configuration?

One line per check, ``OK``, ``WARN`` or ``FAIL``, each problem with what to do about it;
exit 1 when any check failed (warnings alone exit 0). The checks, in order:

config    the file and the environment load and validate; the shipped example JWT
          secret, and settings that do not suit ``server.production = true``
database  answers within ``--timeout`` (a SQLite file not created yet is a warning)
schema    the database's schema version against this code's (stompim.store.migrate)
redis     when configured, answers PING within ``--timeout``
ports     each listener's port is free to bind; when it is taken, whether a stompim
          node (or a STOMP server) answers there or another program holds it

The database and Redis checks run in one event loop; the port checks are plain blocking
sockets, each bounded by the timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import Any

from stompim.cli.check import FAIL, OK, WARN, Check
from stompim.cli.common import EXIT_PROBLEM, configure_logging
from stompim.cli.ports import check_ports
from stompim.config import EXAMPLE_JWT_SECRET, Config, load_config, secret_configured
from stompim.errors import ConfigError
from stompim.logs import redact
from stompim.store.migrate import SCHEMA_VERSION
from stompim.store.node_secret import secret_file_of

__all__ = ["add_parser", "config_checks", "database_checks", "redis_check", "run"]


def add_parser(sub: Any) -> None:
    doctor = sub.add_parser(
        "doctor", help="check the configuration, database, schema, Redis and ports",
        description="Check that a node can run with this configuration; exit 1 on a FAIL.",
    )
    doctor.add_argument("--timeout", type=float, default=3.0,
                        help="seconds each service may take to answer (default 3)")


def run(args: argparse.Namespace) -> int:
    checks: list[Check] = []

    def report(check: Check) -> None:
        checks.append(check)
        print(check.line(), flush=True)

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        report(Check(FAIL, "config", str(exc),
                     "fix that setting (config.toml documents every key); nothing else checked"))
        return EXIT_PROBLEM
    try:
        configure_logging(config, args)
    except ConfigError as exc:
        report(Check(FAIL, "config", str(exc), "use DEBUG, INFO, WARNING or ERROR"))
        return EXIT_PROBLEM
    for check in config_checks(config, args.config):
        report(check)
    sqlite_verdict = sqlite_file_check(config.database.url)
    if sqlite_verdict is not None:
        report(sqlite_verdict)
    for check in asyncio.run(
        _service_checks(config, args.timeout, db_ready=sqlite_verdict is None)
    ):
        report(check)
    for check in check_ports(config, args.timeout):
        report(check)
    failed = sum(c.status == FAIL for c in checks)
    warned = sum(c.status == WARN for c in checks)
    print(f"doctor: {failed} failed, {warned} warning(s), {len(checks) - failed - warned} ok")
    return EXIT_PROBLEM if failed else 0


# ---------------------------------------------------------------------------- config


def _config_source(path: str | None) -> str:
    path = path or os.environ.get("STOMPIM_CONFIG")
    if path is None and Path("config.toml").exists():
        path = "config.toml"
    overrides = sum(k.startswith("STOMPIM_") and k != "STOMPIM_CONFIG" for k in os.environ)
    source = path if path is not None else "built-in defaults (no config.toml here)"
    return f"{source} + {overrides} STOMPIM_* override(s)" if overrides else source


def _secret_checks(config: Config) -> list[Check]:
    """What the node will sign tokens with (stompim.store.node_secret)."""
    secret = config.auth.jwt_secret
    if secret_configured(secret):
        return []
    found: list[Check] = []
    if secret == EXAMPLE_JWT_SECRET:
        found.append(Check(
            WARN, "config", "auth.jwt_secret is the old shipped example: it is ignored",
            "remove it (a random secret is generated) or set STOMPIM_AUTH_JWT_SECRET to a "
            "random value (openssl rand -hex 32)",
        ))
    try:
        where = secret_file_of(config.database.url)
    except ConfigError as exc:
        found.append(Check(WARN, "config", str(exc), "set STOMPIM_AUTH_JWT_SECRET"))
        return found
    kept = f"kept in {where}" if where is not None else "for the life of the process"
    found.append(Check(OK, "config", f"auth.jwt_secret not set: a random secret {kept}"))
    return found


def config_checks(config: Config, path: str | None) -> list[Check]:
    """The loaded configuration's warnings (it already validated: hard errors raised)."""
    mode = "production" if config.server.production else "development"
    checks = [Check(OK, "config", f"loaded {_config_source(path)} ({mode})")]
    checks.extend(_secret_checks(config))
    if not config.server.production:
        return checks
    if config.database.url.lower().startswith("sqlite:"):
        checks.append(Check(WARN, "config", "production on SQLite: one node only",
                            "use MySQL/MariaDB (database.url = mysql://...) to scale out"))
    if not config.redis.url:
        checks.append(Check(
            WARN, "config", "production without Redis: revocations, limits and presence "
            "stay inside one process", "set redis.url (STOMPIM_REDIS_URL)"))
    if config.sms.sender == "outbox":
        checks.append(Check(WARN, "config", "sms.sender = \"outbox\" writes codes to a local "
                            "file: they reach no phone", "plug a gateway SmsSender "
                            "(stompim/im/sms.py) before offering phone sign-up"))
    if "*" in config.http.cors_origins:
        checks.append(Check(WARN, "config", "http.cors_origins allows any origin",
                            "list the front ends' origins"))
    if config.auth.bcrypt_rounds < 10:
        checks.append(Check(WARN, "config", f"auth.bcrypt_rounds = {config.auth.bcrypt_rounds} "
                            "makes stolen hashes cheap to crack", "use 10 or more"))
    return checks


# -------------------------------------------------------------------- database, redis


async def _service_checks(config: Config, within: float, db_ready: bool) -> list[Check]:
    checks = await database_checks(config.database.url, within) if db_ready else []
    checks.append(await redis_check(config.redis.url, within))
    return checks


def sqlite_file_check(url: str) -> Check | None:
    """For a SQLite url, a verdict when there is no file to open (opening would create
    it); None when the database is to be asked."""
    from stompim.store._sqlite import sqlite_path

    if not url.lower().startswith("sqlite:"):
        return None
    try:
        path = sqlite_path(url)
    except ValueError as exc:
        return Check(FAIL, "database", str(exc), "write it as sqlite:///path/to/file.db")
    if path == ":memory:":
        return Check(WARN, "database", "in-memory SQLite: every restart loses all data",
                     "point database.url at a file")
    if path.startswith("file:") or Path(path).exists():
        return None
    return _missing_sqlite_file(Path(path))


async def database_checks(url: str, within: float) -> list[Check]:
    """Connect and read the schema version, each within `within` seconds."""
    from stompim.store import open_database

    shown = redact(url)
    started = time.monotonic()
    try:
        async with asyncio.timeout(within):
            db = await open_database(url, pool_min=1, pool_max=1)
    except Exception as exc:
        reason = _reason(exc, within)
        hint = ("create it (CREATE DATABASE name CHARACTER SET utf8mb4 COLLATE utf8mb4_bin) "
                "or fix database.url" if "Unknown database" in reason else
                "start the database server or fix database.url (STOMPIM_DATABASE_URL)")
        return [Check(FAIL, "database", f"cannot connect to {shown}: {reason}", hint)]
    try:
        async with asyncio.timeout(within):
            version = await _schema_version(db)
        elapsed = (time.monotonic() - started) * 1000
        checks = [Check(OK, "database", f"{db.dialect} at {shown} answered in {elapsed:.0f} ms")]
        checks.append(_schema_check(version))
        return checks
    except Exception as exc:
        return [Check(FAIL, "database", f"{shown} did not answer a query: "
                      f"{_reason(exc, within)}", "check the server's health and permissions")]
    finally:
        await db.close()


def _missing_sqlite_file(path: Path) -> Check:
    folder = path.parent if str(path.parent) else Path(".")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        return Check(FAIL, "database", f"no database file at {path}, and {existing} is not "
                     "writable", "fix database.url or the folder's permissions")
    return Check(WARN, "database", f"no database file at {path} yet",
                 "`stompim migrate` or the first `stompim serve` creates it")


async def _schema_version(db: Any) -> int | None:
    """MAX(version) of schema_version, or None when the table does not exist."""
    if db.dialect == "sqlite":
        exists = await db.fetch_val(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        )
    else:
        exists = await db.fetch_val(
            "SELECT COUNT(*) FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name = 'schema_version'"
        )
    if not exists:
        return None
    version = await db.fetch_val("SELECT MAX(version) FROM schema_version")
    return None if version is None else int(version)


def _schema_check(version: int | None) -> Check:
    if version is None:
        return Check(WARN, "schema", "no schema yet (empty database)",
                     "`stompim migrate` or the first `stompim serve` creates it")
    if version < SCHEMA_VERSION:
        return Check(WARN, "schema", f"version {version}, this stompim uses {SCHEMA_VERSION}",
                     "run `stompim migrate` (a node also upgrades it at start)")
    if version > SCHEMA_VERSION:
        return Check(FAIL, "schema", f"version {version} is newer than this stompim's "
                     f"{SCHEMA_VERSION}", "upgrade stompim to the version that wrote it")
    return Check(OK, "schema", f"version {version}, as this stompim expects")


async def redis_check(url: str, within: float) -> Check:
    if not url:
        return Check(OK, "redis", "not configured: embedded single node (in-process store)")
    import redis.asyncio as aioredis

    shown = redact(url)
    started = time.monotonic()
    client = aioredis.Redis.from_url(url, socket_connect_timeout=within, socket_timeout=within)
    try:
        async with asyncio.timeout(within):
            await client.ping()
            info = await client.info("server")
    except Exception as exc:
        return Check(FAIL, "redis", f"cannot reach {shown}: {_reason(exc, within)}",
                     "start Redis or fix redis.url (STOMPIM_REDIS_URL)")
    finally:
        await client.aclose()
    elapsed = (time.monotonic() - started) * 1000
    version = info.get("redis_version", "?") if isinstance(info, dict) else "?"
    return Check(OK, "redis", f"{shown} answered PING in {elapsed:.0f} ms (Redis {version})")


def _reason(exc: BaseException, within: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {within:g} s"
    return redact(str(exc) or type(exc).__name__).splitlines()[0]

