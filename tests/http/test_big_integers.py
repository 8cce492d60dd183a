"""Integers of 2^63 and more through REST (issue 10, point 8): on SQLite and MariaDB alike
they are refused 400/9001 naming the field, never a 500. Whatever the REST edge lets
through, the domain checks ids again (stompim.im.ids) and the store refuses integers
outside 64 bits before SQL."""

from __future__ import annotations

from typing import Any

import pytest

BIG = 2**63  # one past the largest BIGINT
U64 = 2**64 - 1  # JSON parsers keep this one as an integer


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/friend/request", {"toUserId": U64}, "toUserId"),
        ("GET", f"/api/user/info/{BIG}", None, "userId"),
        ("POST", f"/api/friend/blacklist/{BIG}", None, "userId"),
        ("DELETE", f"/api/friend/blacklist/{BIG}", None, "userId"),
        ("GET", f"/api/message/history?conversationId={BIG}", None, "conversationId"),
        ("GET", f"/api/message/history?conversationId=1&beforeSeq={BIG}", None, "beforeSeq"),
        ("POST", f"/api/message/{BIG}/recall", None, "messageId"),
        ("POST", "/api/group", {"name": "g", "memberIds": [U64]}, "memberIds"),
        ("POST", f"/api/friend/request/{BIG}/accept", None, "requestId"),
    ],
)
async def test_integers_past_64_bits_are_a_named_400(
    client: Any, method: str, path: str, body: Any, field: str
) -> None:
    _, token = await client.user("big")
    reply = await client.call(method, path, json=body, token=token)
    assert (reply.status, reply.code) == (400, 9001), reply.body
    assert field in reply.body["message"], reply.body
