"""The node's token secret when none is configured: random, made once, kept beside the
database.

No secret ships with stompim (an example secret in a config file ends up in production
sooner or later, and anyone who read it could forge tokens). When `auth.jwt_secret` is
empty, a node on SQLite generates 256 random bits on its first start and writes them to
`<database file>.jwt-secret`, readable by the owner only (mode 0600); later starts read
the same file, so tokens survive restarts. The file is created under a temporary name
and linked into place, so two processes starting at once agree on one secret and no
reader sees a half-written file.

A database in memory gets a secret for the life of the process. A MySQL database has no
"beside": the nodes of a cluster must share one secret, so it must be configured
(ConfigError otherwise), as must any node with `server.production = true` (Config.validate).

Call order: `secret = resolve_jwt_secret(config.auth.jwt_secret, config.database.url)`
before the services are built; a configured secret is returned unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

from stompim.errors import ConfigError
from stompim.store._sqlite import sqlite_path

__all__ = ["SECRET_SUFFIX", "resolve_jwt_secret", "secret_file_of"]

log = logging.getLogger(__name__)

SECRET_SUFFIX = ".jwt-secret"
MIN_LENGTH = 32


def secret_file_of(database_url: str) -> Path | None:
    """Where the generated secret of this database lives; None for a database in memory.
    ConfigError for a database that is not a SQLite file."""
    if not database_url.lower().startswith("sqlite:"):
        raise ConfigError(
            "auth.jwt_secret must be set with a MySQL database: every node of the cluster "
            "signs and checks tokens with it (e.g. openssl rand -hex 32)"
        )
    path = sqlite_path(database_url)
    if path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path + SECRET_SUFFIX)


def resolve_jwt_secret(configured: str, database_url: str) -> str:
    """`configured` when set; else the secret kept beside the database (made on first use)."""
    if configured:
        return configured
    target = secret_file_of(database_url)
    if target is None:
        log.warning("auth.jwt_secret is not set and the database is in memory: tokens are "
                    "signed with a random secret that ends with this process")
        return secrets.token_hex(32)
    if not target.exists():
        _create(target, secrets.token_hex(32))
    return _read(target)


def _create(target: Path, secret: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f"{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secret + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temp, target)   # atomic; fails when another process was first
            log.info("generated the token secret %s (keep it private; set auth.jwt_secret "
                     "to choose one)", target)
        except FileExistsError:
            pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _read(target: Path) -> str:
    mode = target.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the token secret %s is readable by others (mode %o): chmod 600 it",
                    target, stat.S_IMODE(mode))
    secret = target.read_text("ascii").strip()
    if len(secret) < MIN_LENGTH:
        raise ConfigError(f"{target}: the token secret must be at least {MIN_LENGTH} "
                          "characters; delete the file to generate a new one")
    return secret
