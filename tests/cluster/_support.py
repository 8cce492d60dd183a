"""Helpers for the two-node tests: a connected STOMP client, a REST client, polling.

Every wait is bounded so a broken bridge fails a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from stompclient import StompClient

from stompim.frames import Command, Frame

TIMEOUT = 5.0
PASSWORD = "passw0rd-ok"


async def connect_stomp(port: int, token: str) -> StompClient:
    """A STOMP 1.2 client over TCP, CONNECTED with `Authorization: Bearer <token>`."""
    client = await StompClient.tcp(port)
    reply = await client.connect(token=token)
    assert reply.command is Command.CONNECTED, reply
    return client


class Rest:
    """JSON calls to one node's REST API; `call` returns (HTTP status, envelope)."""

    def __init__(self, http: aiohttp.ClientSession, port: int) -> None:
        self.http = http
        self.base = f"http://127.0.0.1:{port}"

    async def call(self, method: str, path: str, body: Any = None,
                   token: str | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, self.base + path, json=body,
                                     headers=headers) as resp:
            return resp.status, await resp.json()

    async def ok(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        status, envelope = await self.call(method, path, body, token)
        assert status == 200 and envelope["code"] == 200, (path, status, envelope)
        return envelope["data"]

    async def user(self, name: str) -> tuple[int, str]:
        """Register and log in: (user id, token)."""
        user = await self.ok("POST", "/api/user/register", {"username": name, "password": PASSWORD})
        login = await self.ok("POST", "/api/user/login", {"username": name, "password": PASSWORD})
        return int(user["id"]), str(login["token"])

    async def befriend(self, a: tuple[int, str], b: tuple[int, str]) -> None:
        request = await self.ok("POST", "/api/friend/request", {"toUserId": b[0]}, a[1])
        await self.ok("POST", f"/api/friend/request/{request['id']}/accept", None, b[1])


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 3.0) -> None:
    """Poll `check` until it is true (AssertionError after `timeout`)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def json_body(frame: Frame) -> dict[str, Any]:
    return orjson.loads(frame.body)  # type: ignore[no-any-return]
