"""One paging shape for every offset-paged list: `{records, total, size, current, pages}`,
asked with current/size or pageNum/pageSize/page; out-of-range values refused (issue 12).
Cursor-paged lists keep their cursors. On SQLite and MariaDB."""

from __future__ import annotations

import pytest
from conftest import Api

PAGE_KEYS = {"records", "total", "size", "current", "pages"}


async def _five_requests(client: Api) -> tuple[str, list[int], int, str]:
    """alice receives requests from five users (newest last): her token, their ids, and
    one sender with their token."""
    _, alice_token = await client.user("alice")
    alice = (await client.call("GET", "/api/user/info", token=alice_token)).data["id"]
    senders = []
    sender_token = ""
    for i in range(5):
        user, sender_token = await client.user(f"sender{i}")
        reply = await client.call("POST", "/api/friend/request", token=sender_token,
                                  json={"toUserId": alice})
        assert reply.status == 200
        senders.append(int(user["id"]))
    return alice_token, senders, senders[-1], sender_token


async def test_current_and_size(client: Api) -> None:
    token, senders, *_ = await _five_requests(client)
    first = await client.call("GET", "/api/friend/request/received", token=token,
                              params={"current": "1", "size": "2"})
    assert set(first.data) == PAGE_KEYS
    assert {k: first.data[k] for k in ("total", "size", "current", "pages")} == {
        "total": 5, "size": 2, "current": 1, "pages": 3,
    }
    newest_first = list(reversed(senders))
    assert [r["fromUserId"] for r in first.data["records"]] == newest_first[:2]
    last = await client.call("GET", "/api/friend/request/received", token=token,
                             params={"current": "3", "size": "2"})
    assert [r["fromUserId"] for r in last.data["records"]] == newest_first[4:]
    beyond = await client.call("GET", "/api/friend/request/received", token=token,
                               params={"current": "9", "size": "2"})
    assert beyond.data["records"] == [] and beyond.data["total"] == 5
    default = await client.call("GET", "/api/friend/request/received", token=token)
    assert (default.data["current"], default.data["size"], default.data["pages"]) == (1, 20, 1)


@pytest.mark.parametrize(
    "params",
    [{"pageNum": "2", "pageSize": "2"}, {"page": "2", "size": "2"},
     {"current": "2", "pageNum": "2", "pageSize": "2", "size": "2"}],
)
async def test_aliases(client: Api, params: dict[str, str]) -> None:
    token, senders, *_ = await _five_requests(client)
    reply = await client.call("GET", "/api/friend/request/received", token=token, params=params)
    assert (reply.data["current"], reply.data["size"], reply.data["pages"]) == (2, 2, 3)
    assert [r["fromUserId"] for r in reply.data["records"]] == list(reversed(senders))[2:4]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"size": "0"}, "size"), ({"size": "101"}, "size"), ({"pageSize": "-3"}, "pageSize"),
        ({"current": "0"}, "current"), ({"pageNum": "abc"}, "pageNum"), ({"page": "1.5"}, "page"),
        ({"current": "9" * 30}, "current"), ({"size": ""}, "size"),
        ({"current": "1", "pageNum": "2"}, "paging parameters disagree"),
    ],
)
async def test_out_of_range_paging_is_refused(
    client: Api, params: dict[str, str], field: str
) -> None:
    _, token = await client.user("grace")
    for path in ("/api/notification", "/api/friend/request/received",
                 "/api/friend/request/sent", "/api/friend/blacklist"):
        reply = await client.call("GET", path, token=token, params=params)
        assert (reply.status, reply.code) == (400, 9001), (path, reply.body)
        assert field in reply.body["message"], (path, reply.body)


async def test_every_offset_paged_list_has_the_shape(client: Api) -> None:
    token, senders, _, sender_token = await _five_requests(client)
    me = (await client.call("GET", "/api/user/info", token=token)).data["id"]
    await client.call("POST", f"/api/friend/blacklist/{senders[0]}", token=token)
    group = (await client.call("POST", "/api/group", token=token, json={"name": "G"})).data
    pages = {
        "/api/notification": 5,
        "/api/friend/request/received": 5,
        "/api/friend/request/sent": 0,
        "/api/friend/blacklist": 1,
        f"/api/group/{group['id']}/members": 1,
    }
    for path, total in pages.items():
        reply = await client.call("GET", path, token=token, params={"pageSize": "1"})
        assert reply.status == 200 and set(reply.data) == PAGE_KEYS, (path, reply.body)
        assert (reply.data["total"], reply.data["size"], reply.data["pages"]) == (
            total, 1, total), path
        assert len(reply.data["records"]) == min(total, 1)
    sent = await client.call("GET", "/api/friend/request/sent", token=sender_token)
    assert sent.data["total"] == 1 and sent.data["records"][0]["toUserId"] == me
    found = await client.call("GET", "/api/user/search", token=token,
                              params={"keyword": "sender1", "current": "1", "size": "20"})
    assert set(found.data) == PAGE_KEYS and found.data["total"] == 1
    too_big = await client.call("GET", "/api/user/search", token=token,
                                params={"keyword": "sender1", "size": "21"})
    assert (too_big.status, too_big.code) == (400, 9001)
    members = await client.call("GET", f"/api/group/{group['id']}/members", token=token,
                                params={"size": "500"})
    assert members.status == 200 and members.data["size"] == 500
    notifications = await client.call("GET", "/api/notification", token=sender_token,
                                      params={"current": "1", "size": "100"})
    assert notifications.data["total"] == 0 and notifications.data["pages"] == 0


async def test_cursor_lists_keep_their_cursors(client: Api) -> None:
    _, token = await client.user("heidi")
    listed = await client.call("GET", "/api/conversation/list", token=token)
    assert set(listed.data) == {"list", "nextCursor", "hasMore"}
    for cursor in ("abc", "1_2_3", "99999999999999999999_1", "1_99999999999999999999", "٣_1"):
        bad = await client.call("GET", "/api/conversation/list", token=token,
                                params={"cursor": cursor})
        assert (bad.status, bad.code) == (400, 9001), cursor
        assert bad.body["message"].startswith("cursor:")
