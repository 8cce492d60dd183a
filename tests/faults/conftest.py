"""Fixtures of the fault tests: TCP proxies in front of the real MariaDB and Redis.

`mysql_proxy` / `redis_proxy` start a `TcpProxy` to the server of tests/conftest.py (skip,
or fail under STOMPIM_REQUIRE_SERVICES=1, when it is not there) and close it after the
test; `proxied(url, proxy)` points a service URL at the proxy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from conftest import MYSQL_SERVER_URL, REDIS_URL, mysql_available, redis_available, unavailable

from .proxy import TcpProxy


def proxied(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@127.0.0.1:{proxy.port}" if auth else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
async def mysql_proxy() -> AsyncIterator[TcpProxy]:
    if not mysql_available():
        unavailable(f"MySQL/MariaDB not reachable at {MYSQL_SERVER_URL}")
    proxy = TcpProxy(urlsplit(MYSQL_SERVER_URL).port or 3306)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


@pytest.fixture
async def redis_proxy() -> AsyncIterator[TcpProxy]:
    if not redis_available():
        unavailable(f"Redis not reachable at {REDIS_URL}")
    proxy = TcpProxy(urlsplit(REDIS_URL).port or 6379)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
