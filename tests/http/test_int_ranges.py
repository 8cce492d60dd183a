"""Every integer from a JSON body, a query string or a path is checked against the signed
64-bit range at the edge (ids >= 1): a clean 400/9001 naming the field, on SQLite and
MariaDB alike (issue 10, point 8: SQLite answered 500 for integers >= 2^63). One
regression test per endpoint family."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Api

# JSON literals, written raw so 1e30 stays a float and 10**30 an integer
BAD_ID_LITERALS = [
    "9223372036854775808", "1" + "0" * 30, '"' + "9" * 30 + '"', "1e30", "-1", "0",
    "true", "[]", "{}", "1.5", '"1.5"', '"abc"', '"\\u00b2"',
]
BAD_COUNT_LITERALS = [v for v in BAD_ID_LITERALS if v != "0"]
BAD_ID_TEXTS = ["9223372036854775808", "9" * 30, "-1", "0", "1.5", "true", "1e30", "abc", "²"]
BAD_COUNT_TEXTS = [v for v in BAD_ID_TEXTS if v != "0"]


async def _expect_refusal(client: Api, token: str, method: str, path: str, field: str,
                          *, body: bytes | None = None, params: Any = None) -> None:
    headers = {"Content-Type": "application/json"} if body is not None else None
    reply = await client.call(method, path, token=token, data=body, params=params,
                              headers=headers)
    assert (reply.status, reply.code) == (400, 9001), (method, path, params, body, reply.body)
    assert reply.body["message"].startswith(f"{field}"), (path, params, body, reply.body)


async def _body_cases(client: Api, token: str, method: str, path: str, field: str,
                      base: dict[str, Any], literals: list[str], *, in_list: bool = False) -> None:
    for literal in literals:
        value = f"[{literal}]" if in_list else literal
        fields = {**{k: json.dumps(v) for k, v in base.items()}, field: value}
        body = ("{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}").encode()
        await _expect_refusal(client, token, method, path, field, body=body)


async def _path_cases(client: Api, token: str, method: str, template: str, field: str,
                      texts: list[str], body: dict[str, Any] | None = None) -> None:
    raw = json.dumps(body).encode() if body is not None else None
    for text in texts:
        await _expect_refusal(client, token, method, template.format(text), field, body=raw)


async def _query_cases(client: Api, token: str, path: str, field: str,
                       base: dict[str, str], texts: list[str]) -> None:
    for text in texts:
        await _expect_refusal(client, token, "GET", path, field, params={**base, field: text})


@pytest.fixture
async def token(client: Api) -> str:
    _, tok = await client.user("ranger")
    return tok


async def test_friend_family(client: Api, token: str) -> None:
    await _body_cases(client, token, "POST", "/api/friend/request", "toUserId",
                      {"message": "hi"}, BAD_ID_LITERALS)
    for template in ("/api/friend/request/{}/accept", "/api/friend/request/{}/reject"):
        await _path_cases(client, token, "POST", template, "requestId", BAD_ID_TEXTS)
    for method in ("POST", "DELETE"):
        await _path_cases(client, token, method, "/api/friend/blacklist/{}", "userId",
                          BAD_ID_TEXTS)
    await _path_cases(client, token, "DELETE", "/api/friend/{}", "friendId", BAD_ID_TEXTS)
    await _path_cases(client, token, "PUT", "/api/friend/{}/mute", "friendId", BAD_ID_TEXTS,
                      {"muted": True})


async def test_internal_check_blocked(client: Api, token: str) -> None:
    for field in ("userId", "targetId"):
        other = "targetId" if field == "userId" else "userId"
        await _query_cases(client, token, "/api/friend/internal/check-blocked", field,
                           {other: "1"}, BAD_ID_TEXTS)


async def test_user_family(client: Api, token: str) -> None:
    await _path_cases(client, token, "GET", "/api/user/info/{}", "userId", BAD_ID_TEXTS)
    await _query_cases(client, token, "/api/user/online", "ids", {}, BAD_ID_TEXTS)
    await _body_cases(client, token, "PUT", "/api/user/info", "id", {}, BAD_ID_LITERALS)
    await _body_cases(client, token, "PUT", "/api/user/info", "gender", {},
                      ["3", "-1", "9223372036854775808", "1e30", "true", "[]"])
    await _body_cases(client, token, "PUT", "/api/user/info", "status", {},
                      ["9223372036854775808", "-9223372036854775809", "1e30", "true", "{}"])


async def test_group_family(client: Api, token: str) -> None:
    await _body_cases(client, token, "POST", "/api/group", "memberIds", {"name": "G"},
                      BAD_ID_LITERALS, in_list=True)
    await _path_cases(client, token, "GET", "/api/group/{}", "groupId", BAD_ID_TEXTS)
    await _path_cases(client, token, "GET", "/api/group/{}/members", "groupId", BAD_ID_TEXTS)
    await _path_cases(client, token, "POST", "/api/group/{}/quit", "groupId", BAD_ID_TEXTS)
    await _path_cases(client, token, "DELETE", "/api/group/1/member/{}", "userId", BAD_ID_TEXTS)
    await _path_cases(client, token, "PUT", "/api/group/1/admin/{}", "userId", BAD_ID_TEXTS,
                      {"admin": True})
    await _path_cases(client, token, "POST", "/api/group/invitation/{}/accept", "invitationId",
                      BAD_ID_TEXTS)
    await _body_cases(client, token, "POST", "/api/group/1/invite", "userIds", {},
                      BAD_ID_LITERALS, in_list=True)
    await _body_cases(client, token, "PUT", "/api/group/1/owner", "userId", {}, BAD_ID_LITERALS)


async def test_message_and_conversation_family(client: Api, token: str) -> None:
    await _query_cases(client, token, "/api/message/history", "conversationId", {},
                       BAD_ID_TEXTS)
    for field in ("beforeSeq", "afterSeq"):
        await _query_cases(client, token, "/api/message/history", field,
                           {"conversationId": "1"}, BAD_COUNT_TEXTS)
    await _query_cases(client, token, "/api/message/history", "limit",
                       {"conversationId": "1"}, [*BAD_ID_TEXTS, "101"])
    await _body_cases(client, token, "POST", "/api/message/read", "conversationId",
                      {"seq": 1}, BAD_ID_LITERALS)
    await _body_cases(client, token, "POST", "/api/message/read", "seq",
                      {"conversationId": 1}, BAD_COUNT_LITERALS)
    await _path_cases(client, token, "POST", "/api/message/{}/recall", "messageId",
                      BAD_ID_TEXTS)
    await _path_cases(client, token, "DELETE", "/api/conversation/{}", "conversationId",
                      BAD_ID_TEXTS)
    await _query_cases(client, token, "/api/conversation/list", "limit", {},
                       [*BAD_ID_TEXTS, "101"])


async def test_notification_and_whitelist_family(client: Api, token: str) -> None:
    await _body_cases(client, token, "PUT", "/api/notification/read", "ids", {},
                      BAD_ID_LITERALS, in_list=True)
    await _query_cases(client, token, "/api/notification", "current", {}, BAD_ID_TEXTS)
    for method in ("POST", "DELETE"):
        await _path_cases(client, token, method, "/api/whitelist/{}", "userId", BAD_ID_TEXTS)


async def test_the_largest_ids_pass_the_edge_and_are_simply_not_found(
    client: Api, token: str
) -> None:
    """2^63-1 is a valid id: the database is asked and answers "no such row"."""
    top = "9223372036854775807"
    info = await client.call("GET", f"/api/user/info/{top}", token=token)
    assert (info.status, info.code) == (404, 1004)
    request = await client.call("POST", "/api/friend/request", token=token,
                                json={"toUserId": int(top)})
    assert (request.status, request.code) == (404, 1004)
    history = await client.call("GET", "/api/message/history", token=token,
                                params={"conversationId": top, "beforeSeq": top})
    assert (history.status, history.code) == (404, 3005)
    group = await client.call("POST", "/api/group", token=token,
                              json={"name": "G", "memberIds": [int(top)]})
    assert group.status == 200 and group.data["invitedUserIds"] == []
    recall = await client.call("POST", f"/api/message/{top}/recall", token=token)
    assert (recall.status, recall.code) == (404, 3002)
    blocked = await client.call("POST", f"/api/friend/blacklist/{top}", token=token)
    assert (blocked.status, blocked.code) == (404, 1004)
