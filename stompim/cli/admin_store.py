"""What an admin command opens: the configured database and key-value store, the account
service over them, and a publisher that reaches the running nodes.

A node runs the broker whose publisher closes sessions; the admin process has none, so
`ClusterPublisher` hands every call to a cluster bridge on Redis (the same channel the
nodes use), under the STOMP binding's Publisher as on a node: a "close this user's
sessions" control then reaches every node. Without
Redis there is no channel to the node (its token registry and sessions live in its own
process): `AdminStore.reaches_nodes` is False and the command says what that means.

Call order: `async with open_admin_store(config, timeout) as store:` then
`store.accounts` / `store.admin`; everything is closed on exit, in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stompim.cluster import RedisBridge
from stompim.config import Config
from stompim.im.accounts import AccountService
from stompim.im.admin import AccountAdmin
from stompim.im.publisher import NullPublisher, Publisher
from stompim.logs import redact
from stompim.stomp.publisher import StompPublisher
from stompim.store import migrate, open_database, open_kv
from stompim.store._sqlite import sqlite_path

__all__ = ["AdminStore", "ClusterPublisher", "StoreUnreachable", "open_admin_store"]


class StoreUnreachable(Exception):
    """The database or Redis did not answer; `hint` says what to check."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass
class ClusterPublisher:
    """The broker's server-side publishing (stompim.stomp.publisher.ServerPublishing) for
    a process without a broker: calls go to the nodes through the cluster bridge.
    `failures` lists what could not be published (the caller reports it; the domain
    only logs publisher errors)."""

    bridge: RedisBridge
    failures: list[str] = field(default_factory=list)

    async def publish(
        self, destination: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        pairs = tuple((str(k), str(v)) for k, v in (headers or {}).items())
        self.bridge.forward_message(destination, pairs, body)

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        try:
            await self.bridge.close_user_sessions(user_id, reason, token_id)
        except Exception as exc:
            self.failures.append(f"closing the sessions of user {user_id}: {exc}")
            raise

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        await self.bridge.end_subscriptions(user_id, destination, reason)


@dataclass
class AdminStore:
    accounts: AccountService
    admin: AccountAdmin
    publisher: Publisher
    reaches_nodes: bool
    """True when a Redis channel carries session controls and token revocations to the
    nodes."""
    relay: ClusterPublisher | None = None

    @property
    def failures(self) -> list[str]:
        return self.relay.failures if self.relay is not None else []


DATABASE_HINT = (
    "is the database server running and is database.url (STOMPIM_DATABASE_URL) right? "
    "`stompim doctor` checks it"
)


def check_sqlite_exists(url: str) -> None:
    """Admin commands work on an existing database; a typo in the path must not quietly
    create an empty one."""
    if not url.lower().startswith("sqlite:"):
        return
    try:
        path = sqlite_path(url)
    except ValueError as exc:
        raise StoreUnreachable(str(exc), "write it as sqlite:///path/to/file.db") from None
    if path == ":memory:" or path.startswith("file:"):
        raise StoreUnreachable(
            f"database.url {url!r} is not a file another process can open",
            "point database.url at the node's database file",
        )
    if not Path(path).is_file():
        raise StoreUnreachable(
            f"no database file at {path}",
            "run `stompim migrate` (or start the node once) to create it, or fix "
            "database.url (STOMPIM_DATABASE_URL)",
        )


@contextlib.asynccontextmanager
async def open_admin_store(config: Config, within: float) -> AsyncIterator[AdminStore]:
    """Open database (migrated, as a node does at start) and key-value store, each
    within `within` seconds; StoreUnreachable when one does not answer."""
    url = config.database.url
    check_sqlite_exists(url)
    async with contextlib.AsyncExitStack() as stack:
        try:
            async with asyncio.timeout(within):
                db = await open_database(url, pool_min=1, pool_max=2)
                stack.push_async_callback(db.close)
                await migrate(db)
        except Exception as exc:
            raise StoreUnreachable(
                f"cannot use the database {redact(url)}: {_reason(exc)}", DATABASE_HINT
            ) from None
        publisher: Publisher = NullPublisher()
        relay: ClusterPublisher | None = None
        redis_url = config.redis.url
        try:
            async with asyncio.timeout(within):
                kv = await open_kv(redis_url, prefix=config.redis.channel_prefix)
                stack.push_async_callback(kv.close)
                if redis_url:
                    bridge = RedisBridge(kv, f"admin-{socket.gethostname()}-{os.getpid()}")
                    await bridge.start()
                    stack.push_async_callback(bridge.close)
                    relay = ClusterPublisher(bridge)
                    publisher = StompPublisher(relay)
        except Exception as exc:
            raise StoreUnreachable(
                f"cannot use Redis at {redact(redis_url)}: {_reason(exc)}",
                "is Redis running and is redis.url (STOMPIM_REDIS_URL) right? "
                "`stompim doctor` checks it",
            ) from None
        accounts = AccountService(config, db, kv, publisher)
        yield AdminStore(accounts, AccountAdmin(accounts), publisher, bool(redis_url), relay)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return redact(str(exc) or type(exc).__name__)
