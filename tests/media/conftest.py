"""Fixtures of the media tests: `media_node` starts the REST app of a node (real aiohttp
server on a loopback port) over the `db` fixture (SQLite, MariaDB) and the
`media_section` fixture (local disk, moto's S3 server), with the media service
started as app.py starts it. `MediaClient` calls it as a front end does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from stompim.config import Config
from stompim.http import create_http_app
from stompim.http.routes.file import FILE_PATH
from stompim.im.messages import parse_draft
from stompim.im.publisher import NullPublisher
from stompim.im.services import ImServices, build_services
from stompim.store import Database, KeyValue, open_kv

SECRET = "media-tests-secret-of-stompim-0123456789"
PASSWORD = "passw0rd-ok"


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes
    history: tuple[Any, ...] = ()

    @property
    def json(self) -> Any:
        import json

        return json.loads(self.body)

    @property
    def data(self) -> Any:
        return self.json["data"]

    @property
    def code(self) -> int:
        return int(self.json["code"])


@dataclass
class User:
    id: int
    token: str


class MediaClient:
    def __init__(self, session: aiohttp.ClientSession, base: str, services: ImServices) -> None:
        self.session = session
        self.base = base
        self.services = services

    async def request(
        self, method: str, url: str, *, token: str | None = None, **kwargs: Any
    ) -> Reply:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        target = url if url.startswith("http") else self.base + url
        async with self.session.request(method, target, headers=headers, **kwargs) as resp:
            return Reply(resp.status, resp.headers, await resp.read(), tuple(resp.history))

    async def user(self, name: str) -> User:
        reply = await self.request(
            "POST", "/api/user/register", json={"username": name, "password": PASSWORD}
        )
        assert reply.status == 200, reply.body
        login = await self.request(
            "POST", "/api/user/login", json={"username": name, "password": PASSWORD}
        )
        return User(int(login.data["user"]["id"]), login.data["token"])

    async def upload(
        self,
        user: User,
        content: bytes,
        name: str = "upload.bin",
        purpose: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> Reply:
        form = aiohttp.FormData()
        if purpose is not None:
            form.add_field("purpose", purpose)
        form.add_field("file", content, filename=name, content_type=content_type)
        return await self.request("POST", "/api/file/upload", token=user.token, data=form)

    async def uploaded(self, user: User, content: bytes, **options: Any) -> dict[str, Any]:
        reply = await self.upload(user, content, **options)
        assert reply.status == 200, reply.body
        return reply.data  # type: ignore[no-any-return]

    async def befriend(self, a: User, b: User) -> None:
        req = await self.request(
            "POST", "/api/friend/request", token=a.token, json={"toUserId": b.id, "message": "hi"}
        )
        assert req.status == 200, req.body
        done = await self.request(
            "POST", f"/api/friend/request/{req.data['id']}/accept", token=b.token
        )
        assert done.status == 200, done.body

    async def send_private(self, sender: User, to: User, body: dict[str, Any]) -> Any:
        draft = parse_draft(body, max_length=5000)
        return (await self.services.chat.send_private(sender.id, to.id, draft)).message

    async def send_group(self, sender: User, group_id: int, body: dict[str, Any]) -> Any:
        draft = parse_draft(body, max_length=5000)
        return (await self.services.chat.send_group(sender.id, group_id, draft)).message


MediaNodeFactory = Callable[..., Awaitable[MediaClient]]


@pytest.fixture
async def media_node(
    db: Database, media_section: dict[str, Any]
) -> AsyncIterator[MediaNodeFactory]:
    """`await media_node(sweep=False, **media_overrides)` -> a MediaClient of a fresh node
    (`sweep=True` runs the periodic sweep task, as a node does)."""
    started: list[tuple[TestServer, ImServices, KeyValue, aiohttp.ClientSession]] = []

    async def start(*, sweep: bool = False, **overrides: Any) -> MediaClient:
        config = Config().replace(
            auth={"jwt_secret": SECRET, "bcrypt_rounds": 4},
            media={**media_section, **overrides},
        )
        kv = await open_kv("", prefix="media-test")
        services = build_services(config, db, kv, NullPublisher())
        await services.media.start(sweep=sweep)
        server = TestServer(create_http_app(services))
        await server.start_server()
        session = aiohttp.ClientSession()
        started.append((server, services, kv, session))
        base = str(server.make_url("")).rstrip("/")
        services.media.links.base_url = base + FILE_PATH
        return MediaClient(session, base, services)

    try:
        yield start
    finally:
        for server, services, kv, session in reversed(started):
            await session.close()
            await server.close()
            await services.media.close()
            await kv.close()
