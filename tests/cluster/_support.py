"""Helpers for the two-node tests: a STOMP client over TCP, a REST client, polling.

Every wait is bounded so a broken bridge fails a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from stompim.frames import Command, Frame, FrameParser, encode

TIMEOUT = 5.0
PASSWORD = "passw0rd-ok"


class Stomp:
    """A STOMP 1.2 client on a raw TCP socket; frames via the project's codec."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = FrameParser()
        self.queued: list[Frame] = []
        self.eof = False

    @classmethod
    async def connect(cls, port: int, token: str) -> Stomp:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        await client.send("CONNECT", {"accept-version": "1.2", "host": "localhost",
                                      "Authorization": f"Bearer {token}"})
        reply = await client.next()
        assert reply.command is Command.CONNECTED, reply
        return client

    async def send(self, command: str, headers: dict[str, str], body: bytes = b"") -> None:
        self.writer.write(encode(Frame.build(Command(command), headers, body)))
        await self.writer.drain()

    async def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self.reader.read(65536)
        except ConnectionError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.queued.extend(self.parser.feed(data))
        return True

    async def next(self, timeout: float = TIMEOUT) -> Frame:
        async with asyncio.timeout(timeout):
            while not self.queued:
                assert await self._fill(), "connection closed"
        return self.queued.pop(0)

    async def answer(self, receipt: str) -> Frame:
        """The next frame naming `receipt`; frames before it stay queued."""
        before: list[Frame] = []
        try:
            while True:
                frame = await self.next()
                if frame.get("receipt-id") == receipt:
                    return frame
                before.append(frame)
        finally:
            self.queued[:0] = before

    async def subscribe(self, destination: str, sub_id: str) -> None:
        await self.send("SUBSCRIBE", {"destination": destination, "id": sub_id,
                                      "receipt": f"sub-{sub_id}"})
        reply = await self.answer(f"sub-{sub_id}")
        assert reply.command is Command.RECEIPT, reply

    async def quiet(self, wait: float = 0.3) -> None:
        try:
            frame = await self.next(wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {frame}")

    async def closed(self, timeout: float = TIMEOUT) -> list[Frame]:
        """Read until the server closes the connection; the frames seen meanwhile."""
        async with asyncio.timeout(timeout):
            while await self._fill():
                pass
        got, self.queued = self.queued, []
        return got

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


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
