"""Request ids and the REST access log (stompim.http.access) on a real aiohttp server."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from conftest import Api

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)

Lines = Callable[[], list[dict[str, Any]]]
ACCESS = "stompim.http.access"


def access_lines(json_logs: Lines) -> list[dict[str, Any]]:
    return [line for line in json_logs() if line["logger"] == ACCESS]


async def test_incoming_request_id_is_kept_and_echoed(client: Api, json_logs: Lines) -> None:
    reply = await client.call("GET", "/health", headers={"X-Request-Id": "lb-7f3a:01.x_y-z"})
    assert reply.headers["X-Request-Id"] == "lb-7f3a:01.x_y-z"
    (line,) = access_lines(json_logs)
    assert line["request_id"] == "lb-7f3a:01.x_y-z"


@pytest.mark.parametrize("incoming", [None, "", "has space", "x" * 129, "semi;colon", "é"])
async def test_missing_or_unsafe_request_id_is_replaced(
    client: Api, json_logs: Lines, incoming: str | None
) -> None:
    headers = {} if incoming is None else {"X-Request-Id": incoming}
    reply = await client.call("GET", "/health", headers=headers)
    generated = reply.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert access_lines(json_logs)[0]["request_id"] == generated


async def test_access_line_names_route_template_status_and_user(
    client: Api, json_logs: Lines
) -> None:
    user, token = await client.user("grace")
    reply = await client.call("GET", f"/api/user/info/{user['id']}?x=secret-q", token=token)
    assert reply.status == 200
    refused = await client.call("GET", "/api/user/info")
    assert refused.status == 401
    missing = await client.call("GET", "/api/nowhere/at/all", token=token)
    assert missing.status == 404

    lines = access_lines(json_logs)
    by_route = {(line["method"], line["route"]): line for line in lines}
    ok = by_route[("GET", "/api/user/info/{userId}")]
    assert (ok["status"], ok["user_id"]) == (200, user["id"])
    assert ok["duration_ms"] >= 0 and ok["remote"] == "127.0.0.1"
    assert ok["message"].startswith("GET /api/user/info/{userId} 200 ")
    assert ok["request_id"] == reply.headers["X-Request-Id"]
    anonymous = by_route[("GET", "/api/user/info")]
    assert anonymous["status"] == 401 and "user_id" not in anonymous
    assert by_route[("GET", "/api/nowhere/at/all")]["status"] == 404
    assert [line["route"] for line in lines].count("/api/user/register") == 1
    assert all("secret-q" not in str(line) for line in lines)
    assert len({line["request_id"] for line in lines}) == len(lines)


async def test_lines_written_while_serving_carry_the_request(
    client: Api, json_logs: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(self: Any, keyword: Any, **paging: Any) -> Any:
        raise RuntimeError("unexpected")

    user, token = await client.user("heidi")
    monkeypatch.setattr(type(client.services.accounts), "search", boom)
    reply = await client.call("GET", "/api/user/search?keyword=x", token=token,
                              headers={"X-Request-Id": "trace-500"})
    assert reply.status == 500
    (failure,) = [line for line in json_logs() if line["level"] == "ERROR"]
    assert (failure["request_id"], failure["user_id"]) == ("trace-500", user["id"])
    assert "RuntimeError: unexpected" in failure["exc_info"]
    (access,) = [line for line in access_lines(json_logs) if line["request_id"] == "trace-500"]
    assert access["status"] == 500


async def test_cors_lets_browsers_send_and_read_the_request_id(client: Api) -> None:
    origin = "http://localhost:5173"
    preflight = await client.client.options(
        "/api/user/info",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization, x-request-id"},
    )
    assert preflight.status == 204
    assert "X-Request-Id" in preflight.headers["Access-Control-Allow-Headers"]
    assert preflight.headers["X-Request-Id"]
    reply = await client.call("GET", "/health", headers={"Origin": origin})
    assert reply.headers["Access-Control-Expose-Headers"] == "X-Request-Id"
