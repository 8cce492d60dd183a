"""http.error_status = "ok": every business refusal answers HTTP 200 with its code in the
Result, as Spring backends do for clients that read only the envelope; 5xx, an unavailable
dependency and framework answers keep their status (issue 12)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import _serve, make_config

from stompim.config import Config, load_config
from stompim.errors import ConfigError, Unavailable
from stompim.store import Database, KeyValue


class Raw:
    """Calls that accept a refusal on HTTP 200 (conftest.Api asserts code 200 there)."""

    def __init__(self, api: Any) -> None:
        self.api = api

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        token = kwargs.pop("token", None)
        if token:
            kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": f"Bearer {token}"}
        async with self.api.client.request(method, path, **kwargs) as resp:
            body = await resp.json()
            assert set(body) == {"code", "message", "data", "timestamp"}
            return resp.status, body


@pytest.fixture
async def ok_mode(db: Database, memory_kv: KeyValue) -> AsyncIterator[Raw]:
    cfg = make_config(http={"error_status": "ok", "max_body_bytes": 4096})
    async for api in _serve(cfg, db, memory_kv):
        yield Raw(api)


async def test_refusals_answer_200_with_the_code(ok_mode: Raw) -> None:
    register = {"username": "alice", "password": "passw0rd-ok"}
    status, body = await ok_mode.call("POST", "/api/user/register", json=register)
    assert (status, body["code"]) == (200, 200)
    status, body = await ok_mode.call("POST", "/api/user/login", json={**register})
    token, me = body["data"]["token"], body["data"]["user"]["id"]
    cases = [
        (("POST", "/api/user/register"), {"json": register}, 1001),  # was 409
        (("POST", "/api/user/login"), {"json": {**register, "password": "wrong-1x"}}, 1002),
        (("GET", "/api/user/info"), {}, 9002),  # no token: was 401
        (("GET", "/api/user/info"), {"token": "not-a-jwt"}, 1003),
        (("GET", f"/api/user/info/{me + 1000}"), {"token": token}, 1004),  # was 404
        (("GET", "/api/user/info/0"), {"token": token}, 9001),  # was 400
        (("GET", "/api/notification"), {"token": token, "params": {"size": "0"}}, 9001),
        (("POST", "/api/friend/request"), {"token": token, "json": {"toUserId": me}}, 2004),
        (("GET", "/api/group/999999999"), {"token": token}, 4001),
        (("GET", "/api/friend/internal/check-blocked"),
         {"params": {"userId": "1", "targetId": "2"}}, 9003),  # was 403
    ]
    for (method, path), kwargs, code in cases:
        status, body = await ok_mode.call(method, path, **kwargs)
        assert (status, body["code"]) == (200, code), (path, body)
        assert body["data"] is None and body["message"] != "success"


async def test_what_is_not_a_refusal_keeps_its_status(ok_mode: Raw, monkeypatch) -> None:
    status, body = await ok_mode.call("GET", "/api/no-such-route")
    assert (status, body["code"]) == (404, 9004)
    status, body = await ok_mode.call("DELETE", "/api/user/login")
    assert status == 405
    status, body = await ok_mode.call("POST", "/api/user/login", data="x" * 5000,
                                      headers={"Content-Type": "application/json"})
    assert (status, body["code"]) == (413, 9006)  # over http.max_body_bytes: aiohttp's

    async def down(*args: Any, **kwargs: Any) -> None:
        raise Unavailable("database")

    services = ok_mode.api.services
    monkeypatch.setattr(type(services.accounts), "get_user", down)
    register = {"username": "bob_1", "password": "passw0rd-ok"}
    await ok_mode.call("POST", "/api/user/register", json=register)
    _, body = await ok_mode.call("POST", "/api/user/login", json=register)
    status, body = await ok_mode.call("GET", "/api/user/info", token=body["data"]["token"])
    # an unavailable dependency is no refusal: 5xx in both modes (503 with error_middleware's
    # Unavailable mapping), never 200
    assert status >= 500 and body["code"] != 200, body

    async def bug(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(type(services.accounts), "search", bug)
    _, login = await ok_mode.call("POST", "/api/user/login", json=register)
    status, body = await ok_mode.call("GET", "/api/user/search", params={"keyword": "x"},
                                      token=login["data"]["token"])
    assert (status, body["code"]) == (500, 9999)


async def test_http_mode_is_the_default(db: Database, memory_kv: KeyValue) -> None:
    assert Config().http.error_status == "http"
    async for api in _serve(make_config(), db, memory_kv):
        reply = await api.call("GET", "/api/user/info")
        assert (reply.status, reply.code) == (401, 9002)


def test_error_status_is_validated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text('[http]\nerror_status = "sometimes"\n')
    with pytest.raises(ConfigError, match=r"http\.error_status"):
        load_config(bad, environ={})
    good = tmp_path / "good.toml"
    good.write_text('[http]\nerror_status = "ok"\n')
    assert load_config(good, environ={}).http.error_status == "ok"
    assert load_config(None, environ={"STOMPIM_HTTP_ERROR_STATUS": "ok"}).http.error_status == "ok"
