"""No shared example secret: an unset auth.jwt_secret makes a node generate a random one
on first start, keep it beside its SQLite database (mode 0600) and reuse it after a
restart; MySQL and production nodes refuse to start without an explicit one."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from stompim.app import Node
from stompim.config import EXAMPLE_JWT_SECRET, Config
from stompim.errors import ConfigError
from stompim.store import KeyValue
from stompim.store.node_secret import resolve_jwt_secret, secret_file_of

PASSWORD = "passw0rd-ok"


def test_generated_once_kept_private_and_reused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'node.db'}"
    first = resolve_jwt_secret("", url)
    path = tmp_path / "data" / "node.db.jwt-secret"
    assert secret_file_of(url) == path
    assert len(first) == 64 and path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_jwt_secret("", url) == first
    assert resolve_jwt_secret("x" * 40, url) == "x" * 40  # a configured one wins
    assert resolve_jwt_secret("", f"sqlite:///{tmp_path / 'other.db'}") != first
    assert not list((tmp_path / "data").glob("*.tmp"))


async def test_two_processes_starting_at_once_agree(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'node.db'}"
    secrets = await asyncio.gather(*(asyncio.to_thread(resolve_jwt_secret, "", url)
                                     for _ in range(8)))
    assert len(set(secrets)) == 1


def test_memory_mysql_and_bad_files(tmp_path: Path) -> None:
    assert secret_file_of("sqlite://") is None
    assert resolve_jwt_secret("", "sqlite://") != resolve_jwt_secret("", "sqlite://")
    with pytest.raises(ConfigError, match="MySQL"):
        resolve_jwt_secret("", "mysql://root@127.0.0.1:3306/im")
    short = tmp_path / "short.db.jwt-secret"
    short.write_text("too-short\n")
    with pytest.raises(ConfigError, match="at least 32"):
        resolve_jwt_secret("", f"sqlite:///{tmp_path / 'short.db'}")


def test_production_needs_an_explicit_secret(tmp_path: Path) -> None:
    for secret in ("", EXAMPLE_JWT_SECRET):
        cfg = Config().replace(server={"production": True}, auth={"jwt_secret": secret})
        with pytest.raises(ConfigError, match="jwt_secret is not set"):
            cfg.validate()
    Config().replace(server={"production": True}, auth={"jwt_secret": "p" * 40}).validate()


@pytest.mark.redis
async def test_a_token_survives_a_restart_of_a_node_without_a_secret(
    tmp_path: Path, redis_url: str, kv_prefix: str, redis_kv: KeyValue
) -> None:
    """SQLite file + Redis (the token registry outlives the process; `redis_kv` shares
    the prefix and deletes the keys afterwards)."""

    def node_config(secret: str = "") -> Config:
        return Config().replace(
            server={"http_port": 0, "ws_port": 0, "tcp_port": 0},
            database={"url": f"sqlite:///{tmp_path / 'node.db'}"},
            redis={"url": redis_url, "channel_prefix": kv_prefix},
            auth={"bcrypt_rounds": 4, "jwt_secret": secret},
        )

    async def run(body: dict[str, str], path: str, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession() as http, http.request(
            "POST" if body else "GET", f"http://127.0.0.1:{node.ports.http}{path}",
            json=body or None, headers=headers,
        ) as resp:
            return resp.status, await resp.json()

    node = Node(node_config())
    await node.start()
    try:
        assert node.config.auth.jwt_secret == (tmp_path / "node.db.jwt-secret").read_text().strip()
        creds = {"username": "alice", "password": PASSWORD}
        assert (await run(creds, "/api/user/register"))[0] == 200
        login = await run(creds, "/api/user/login")
        token = login[1]["data"]["token"]
    finally:
        await node.stop()
    # the old example secret counts as none: the same kept secret is used
    node = Node(node_config(EXAMPLE_JWT_SECRET))
    await node.start()
    try:
        status, envelope = await run({}, "/api/user/info", token)
        assert (status, envelope["data"]["username"]) == (200, "alice")
    finally:
        await node.stop()
    # a configured secret replaces it: the old token no longer verifies
    node = Node(node_config("configured-secret-0123456789abcdef-xyz"))
    await node.start()
    try:
        assert (await run({}, "/api/user/info", token))[0] == 401
    finally:
        await node.stop()
    assert os.stat(tmp_path / "node.db.jwt-secret").st_mode & 0o077 == 0
