"""Fixtures for the REST tests: a real aiohttp server on a loopback port per test.

`client` runs over the `db` fixture (SQLite and MySQL) with the in-process KV;
`kv_client` also crosses the `kv` fixture (memory and Redis) for the tests where
the key-value store matters (token revocation, rate limits, SMS codes, presence).
Both yield an `Api`, whose every call checks the Result envelope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from stompim.config import Config
from stompim.http import create_http_app
from stompim.im.services import ImServices, build_services
from stompim.im.sms import MemorySmsSender
from stompim.stomp.publisher import StompPublisher
from stompim.store import Database, KeyValue

SECRET = "test-secret-for-stompim-http-tests-0123456789"
PASSWORD = "passw0rd-ok"


@dataclass
class Recorder:
    """The broker's side of publishing, remembered (no broker in these tests)."""

    closed: list[tuple[int, str, str | None]] = field(default_factory=list)
    published: list[tuple[str, bytes]] = field(default_factory=list)

    async def publish(
        self, destination: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        self.published.append((destination, body))

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        self.closed.append((user_id, reason, token_id))

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        return None


class RecordingPublisher(StompPublisher):
    """The STOMP binding's Publisher over a Recorder: what the domain's events would
    become on the wire."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        super().__init__(self.recorder)
        self.closed = self.recorder.closed
        self.published = self.recorder.published


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]

    @property
    def code(self) -> int:
        return int(self.body["code"])

    @property
    def data(self) -> Any:
        return self.body["data"]


class Api:
    """Calls the server and asserts every answer is a Result envelope."""

    def __init__(
        self,
        client: TestClient,
        services: ImServices,
        sms: MemorySmsSender,
        publisher: RecordingPublisher,
    ) -> None:
        self.client = client
        self.services = services
        self.sms = sms
        self.publisher = publisher

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        data: bytes | str | None = None,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": hdrs}
        if params is not None:
            kwargs["params"] = params
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        async with self.client.request(method, path, **kwargs) as resp:
            assert resp.content_type == "application/json", (resp.status, await resp.text())
            body = await resp.json()
            assert set(body) == {"code", "message", "data", "timestamp"}, body
            assert isinstance(body["code"], int) and isinstance(body["message"], str)
            assert isinstance(body["timestamp"], int) and body["timestamp"] > 1_600_000_000_000
            if resp.status == 200:
                assert body["code"] == 200 and body["message"] == "success", body
            else:
                assert body["code"] != 200 and body["data"] is None, body
            return Reply(resp.status, body, resp.headers)

    async def register(
        self, username: str, password: str = PASSWORD, **extra: Any
    ) -> dict[str, Any]:
        reply = await self.call(
            "POST", "/api/user/register", json={"username": username, "password": password, **extra}
        )
        assert reply.status == 200, reply.body
        return reply.data  # type: ignore[no-any-return]

    async def login(self, username: str, password: str = PASSWORD) -> str:
        reply = await self.call(
            "POST", "/api/user/login", json={"username": username, "password": password}
        )
        assert reply.status == 200, reply.body
        return reply.data["token"]  # type: ignore[no-any-return]

    async def user(self, username: str, password: str = PASSWORD) -> tuple[dict[str, Any], str]:
        """Register and log in: (user json, token)."""
        user = await self.register(username, password)
        return user, await self.login(username, password)


def make_config(**sections: Mapping[str, Any]) -> Config:
    base: dict[str, dict[str, Any]] = {
        "auth": {"bcrypt_rounds": 4, "jwt_secret": SECRET, "login_max_failures": 3,
                 "login_max_failures_per_ip": 12},
        "http": {"max_body_bytes": 64 * 1024, "cors_origins": ["http://localhost:5173"]},
        "sms": {"max_per_phone_per_hour": 3, "max_per_ip_per_hour": 6},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return Config().replace(**base)


@pytest.fixture
def cfg() -> Config:
    return make_config()


async def _serve(cfg: Config, db: Database, kv: KeyValue) -> AsyncIterator[Api]:
    sms = MemorySmsSender()
    publisher = RecordingPublisher()
    services = build_services(cfg, db, kv, publisher, sms_sender=sms)
    client = TestClient(TestServer(create_http_app(services), host="127.0.0.1", port=0))
    await client.start_server()
    try:
        yield Api(client, services, sms, publisher)
    finally:
        await client.close()


@pytest.fixture
async def client(cfg: Config, db: Database, memory_kv: KeyValue) -> AsyncIterator[Api]:
    async for api in _serve(cfg, db, memory_kv):
        yield api


@pytest.fixture
async def kv_client(cfg: Config, db: Database, kv: KeyValue) -> AsyncIterator[Api]:
    async for api in _serve(cfg, db, kv):
        yield api
