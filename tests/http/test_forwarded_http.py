"""Behind a trusted proxy the REST edge sees the client from X-Forwarded-For: in the access
log and in the per-IP limits (SMS codes here); from an untrusted peer the header is ignored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import Api, make_config

from stompim.config import Config

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def cfg(request: pytest.FixtureRequest) -> Config:
    trusted = getattr(request, "param", ["127.0.0.1"])
    return make_config(server={"trusted_proxies": trusted},
                       sms={"max_per_phone_per_hour": 3, "max_per_ip_per_hour": 2})


async def test_access_log_names_the_forwarded_client(client: Api, json_logs: Lines) -> None:
    await client.call("GET", "/health", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.7"})
    (line,) = [x for x in json_logs() if x["logger"] == "stompim.http.access"]
    assert line["remote"] == "203.0.113.7"


async def _sms(client: Api, phone: str, source: str) -> int:
    reply = await client.call("POST", "/api/user/sms-code", json={"phone": phone},
                              headers={"X-Forwarded-For": source})
    return reply.status


async def test_per_ip_limits_count_each_forwarded_client(client: Api) -> None:
    assert [await _sms(client, f"+861390000000{i}", "203.0.113.7") for i in range(3)] == \
        [200, 200, 429]
    # another client behind the same proxy is not caught by the first one's limit
    assert await _sms(client, "+8613900000009", "203.0.113.8") == 200


@pytest.mark.parametrize("cfg", [[]], indirect=True)
async def test_without_trusted_proxies_the_header_cannot_dodge_a_limit(client: Api) -> None:
    statuses = [await _sms(client, f"+861390000001{i}", f"203.0.113.{i}") for i in range(3)]
    assert statuses == [200, 200, 429]
