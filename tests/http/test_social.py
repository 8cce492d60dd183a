"""REST /api/friend, /api/group, /api/whitelist, /api/notification through a real
aiohttp server (tests/http/conftest.py), on SQLite and MySQL."""

from __future__ import annotations

import orjson
import pytest
from conftest import Api, make_config

from stompim.config import Config

INTERNAL = "internal-secret-for-tests"


@pytest.fixture
def cfg() -> Config:
    return make_config(auth={"internal_secret": INTERNAL}, im={"max_group_size": 3})


async def _users(client: Api, *names: str) -> list[tuple[int, str]]:
    out = []
    for name in names:
        user, token = await client.user(name)
        out.append((int(user["id"]), token))
    return out


async def _friends(client: Api, a: tuple[int, str], b: tuple[int, str]) -> None:
    r = await client.call("POST", "/api/friend/request", token=a[1],
                          json={"toUserId": b[0], "message": "hi"})
    assert r.status == 200, r.body
    acc = await client.call("POST", f"/api/friend/request/{r.data['id']}/accept", token=b[1])
    assert acc.status == 200 and acc.data["status"] == 1


async def test_friend_flow(client: Api) -> None:
    (a, ta), (b, tb) = await _users(client, "alice", "bobby")
    r = await client.call("POST", "/api/friend/request", token=ta,
                          json={"toUserId": b, "message": "hello"})
    assert r.status == 200 and r.data["status"] == 0
    dup = await client.call("POST", "/api/friend/request", token=ta, json={"toUserId": b})
    assert (dup.status, dup.code) == (409, 2002)
    me = await client.call("POST", "/api/friend/request", token=ta, json={"toUserId": a})
    assert (me.status, me.code) == (400, 2004)
    bad = await client.call("POST", "/api/friend/request", token=ta, json={"toUserId": "x"})
    assert (bad.status, bad.code) == (400, 9001) and "toUserId" in bad.body["message"]
    received = await client.call("GET", "/api/friend/request/received", token=tb)
    assert [x["fromUser"]["username"] for x in received.data["records"]] == ["alice"]
    sent = await client.call("GET", "/api/friend/request/sent", token=ta)
    assert sent.data["records"][0]["toUserId"] == b
    acc = await client.call("POST", f"/api/friend/request/{r.data['id']}/accept", token=tb)
    assert acc.data["status"] == 1
    again = await client.call("POST", "/api/friend/request", token=tb, json={"toUserId": a})
    assert (again.status, again.code) == (409, 2001)
    assert (await client.call("PUT", f"/api/friend/{b}/remark", token=ta,
                              json={"remark": "Bob"})).status == 200
    assert (await client.call("PUT", f"/api/friend/{b}/mute", token=ta,
                              json={"muted": True})).status == 200
    bad_mute = await client.call("PUT", f"/api/friend/{b}/mute", token=ta, json={"muted": 1})
    assert bad_mute.code == 9001 and "muted" in bad_mute.body["message"]
    (f,) = (await client.call("GET", "/api/friend/list", token=ta)).data
    assert (f["friendId"], f["remark"], f["muted"], f["username"]) == (b, "Bob", True, "bobby")
    assert (await client.call("DELETE", f"/api/friend/{a}", token=tb)).status == 200
    assert (await client.call("GET", "/api/friend/list", token=ta)).data == []
    gone = await client.call("DELETE", f"/api/friend/{a}", token=tb)
    assert (gone.status, gone.code) == (404, 2003)
    # the notification went to bob's queue
    dests = [d for d, _ in client.publisher.published]
    assert f"/queue/notification/{b}" in dests and f"/queue/notification/{a}" in dests


async def test_blacklist_and_internal_check(client: Api) -> None:
    (a, ta), (b, tb) = await _users(client, "carol", "david")
    assert (await client.call("POST", f"/api/friend/blacklist/{b}", token=ta)).status == 200
    listed = await client.call("GET", "/api/friend/blacklist", token=ta)
    assert [x["userId"] for x in listed.data["records"]] == [b]
    refused = await client.call("POST", "/api/friend/request", token=tb, json={"toUserId": a})
    assert (refused.status, refused.code) == (403, 2005)
    path = f"/api/friend/internal/check-blocked?userId={a}&targetId={b}"
    no_secret = await client.call("GET", path)
    assert no_secret.status == 403
    wrong = await client.call("GET", path, headers={"X-Internal-Secret": "nope"})
    assert wrong.status == 403
    with_jwt_only = await client.call("GET", path, token=ta)
    assert with_jwt_only.status == 403
    good = await client.call("GET", path, headers={"X-Internal-Secret": INTERNAL})
    assert good.status == 200
    assert good.data == {"blocked": True, "userBlockedTarget": True, "targetBlockedUser": False}
    missing = await client.call("GET", "/api/friend/internal/check-blocked?userId=1",
                                headers={"X-Internal-Secret": INTERNAL})
    assert missing.code == 9001
    assert (await client.call("DELETE", f"/api/friend/blacklist/{b}", token=ta)).status == 200
    good = await client.call("GET", path, headers={"X-Internal-Secret": INTERNAL})
    assert good.data["blocked"] is False


async def test_internal_check_disabled_without_secret(db, memory_kv) -> None:  # type: ignore
    """auth.internal_secret empty (the default): the endpoint refuses everyone."""
    from aiohttp.test_utils import TestClient, TestServer

    from stompim.http import create_http_app
    from stompim.im.publisher import NullPublisher
    from stompim.im.services import build_services

    services = build_services(make_config(), db, memory_kv, NullPublisher())
    server = TestServer(create_http_app(services), host="127.0.0.1", port=0)
    async with TestClient(server) as c, c.get(
        "/api/friend/internal/check-blocked?userId=1&targetId=2",
        headers={"X-Internal-Secret": ""},
    ) as resp:
        assert resp.status == 403
        assert (await resp.json())["code"] == 9003


async def test_group_flow(client: Api) -> None:
    owner, friend, stranger, extra = await _users(client, "owner", "friend", "stranger", "extra")
    await _friends(client, owner, friend)
    created = await client.call("POST", "/api/group", token=owner[1], json={
        "name": "Team", "announcement": "welcome", "memberIds": [friend[0], stranger[0]]})
    assert created.status == 200, created.body
    g = created.data
    gid = g["id"]
    assert g["memberIds"] == [owner[0], friend[0]] and g["invitedUserIds"] == [stranger[0]]
    assert g["maxMembers"] == 3
    bad = await client.call("POST", "/api/group", token=owner[1], json={"name": ""})
    assert bad.code == 9001 and "name" in bad.body["message"]
    mine = await client.call("GET", "/api/group/my", token=friend[1])
    assert [x["id"] for x in mine.data] == [gid]
    info = await client.call("GET", f"/api/group/{gid}", token=friend[1])
    assert info.data["announcement"] == "welcome" and info.data["myRole"] == 0
    outsider = await client.call("GET", f"/api/group/{gid}", token=extra[1])
    assert (outsider.status, outsider.code) == (403, 4002)
    missing = await client.call("GET", "/api/group/999999999", token=extra[1])
    assert (missing.status, missing.code) == (404, 4001)
    upd = await client.call("PUT", f"/api/group/{gid}", token=friend[1], json={"name": "X"})
    assert (upd.status, upd.code) == (403, 4003)
    upd = await client.call("PUT", f"/api/group/{gid}", token=owner[1],
                            json={"name": "Team 2", "allowMemberInvite": True})
    assert upd.data["name"] == "Team 2" and upd.data["allowMemberInvite"] is True
    (inv,) = (await client.call("GET", "/api/group/invitation", token=stranger[1])).data
    assert inv["groupId"] == gid and inv["inviter"]["username"] == "owner"
    acc = await client.call("POST", f"/api/group/invitation/{inv['id']}/accept", token=stranger[1])
    assert acc.status == 200 and acc.data["status"] == 1
    # full now (max 3): a member invites (allowed by the flag), the invitee cannot join
    invited = await client.call("POST", f"/api/group/{gid}/invite", token=friend[1],
                                json={"userIds": [extra[0]]})
    assert [i["inviteeId"] for i in invited.data] == [extra[0]]
    full = await client.call("POST", f"/api/group/invitation/{invited.data[0]['id']}/accept",
                             token=extra[1])
    assert (full.status, full.code) == (409, 4004)
    members = await client.call("GET", f"/api/group/{gid}/members", token=owner[1])
    assert {m["userId"]: m["role"] for m in members.data["records"]} == {
        owner[0]: 2, friend[0]: 0, stranger[0]: 0}
    assert (await client.call("PUT", f"/api/group/{gid}/admin/{friend[0]}", token=owner[1],
                              json={"admin": True})).status == 200
    assert (await client.call("PUT", f"/api/group/{gid}/nickname", token=friend[1],
                              json={"nickname": "boss"})).status == 200
    kicked = await client.call("DELETE", f"/api/group/{gid}/member/{stranger[0]}", token=friend[1])
    assert kicked.status == 200
    quit_owner = await client.call("POST", f"/api/group/{gid}/quit", token=owner[1])
    assert (quit_owner.status, quit_owner.code) == (409, 4007)
    assert (await client.call("PUT", f"/api/group/{gid}/owner", token=owner[1],
                              json={"userId": friend[0]})).status == 200
    assert (await client.call("POST", f"/api/group/{gid}/quit", token=owner[1])).status == 200
    not_owner = await client.call("DELETE", f"/api/group/{gid}", token=owner[1])
    assert (not_owner.status, not_owner.code) == (403, 4002)  # no longer a member
    assert (await client.call("DELETE", f"/api/group/{gid}", token=friend[1])).status == 200
    assert (await client.call("GET", "/api/group/my", token=friend[1])).data == []
    # stranger was told about the kick on their notification queue
    bodies = [orjson.loads(b) for d, b in client.publisher.published
              if d == f"/queue/notification/{stranger[0]}"]
    assert [x["type"] for x in bodies] == ["GROUP_INVITATION", "GROUP_KICKED"]


async def test_whitelist_routes(client: Api) -> None:
    (a, ta), (b, tb), (c, _) = await _users(client, "erin1", "frank", "grace")
    await _friends(client, (a, ta), (b, tb))
    not_friend = await client.call("POST", f"/api/whitelist/{c}", token=ta)
    assert (not_friend.status, not_friend.code) == (403, 2003)
    assert (await client.call("POST", f"/api/whitelist/{b}", token=ta)).status == 200
    listed = await client.call("GET", "/api/whitelist", token=ta)
    assert [(x["userId"], x["friend"]) for x in listed.data] == [(b, True)]
    g = await client.call("POST", "/api/group", token=ta, json={"name": "W", "useWhitelist": True})
    assert g.data["memberIds"] == [a, b]
    assert (await client.call("DELETE", f"/api/whitelist/{b}", token=ta)).status == 200
    assert (await client.call("GET", "/api/whitelist", token=ta)).data == []
    bad = await client.call("POST", "/api/whitelist/abc", token=ta)
    assert bad.code == 9001


async def test_notification_routes(client: Api) -> None:
    (a, ta), (b, tb), (c, tc) = await _users(client, "henry", "irene", "jack1")
    for sender in ((b, tb), (c, tc)):
        r = await client.call("POST", "/api/friend/request", token=sender[1], json={"toUserId": a})
        assert r.status == 200
    unauth = await client.call("GET", "/api/notification")
    assert unauth.status == 401
    page = await client.call("GET", "/api/notification?page=1&size=1", token=ta)
    assert page.data["total"] == 2 and page.data["current"] == 1 and page.data["size"] == 1
    (newest,) = page.data["records"]
    assert newest["type"] == "FRIEND_REQUEST" and newest["extra"]["fromUserId"] == c
    page2 = await client.call("GET", "/api/notification?page=2&size=1", token=ta)
    assert page2.data["records"][0]["extra"]["fromUserId"] == b
    too_big = await client.call("GET", "/api/notification?size=101", token=ta)
    assert too_big.code == 9001 and "size" in too_big.body["message"]
    assert (await client.call("GET", "/api/notification/unread-count", token=ta)).data == 2
    marked = await client.call("PUT", "/api/notification/read", token=ta,
                               json={"ids": [newest["id"]]})
    assert marked.data == {"updated": 1}
    assert (await client.call("GET", "/api/notification/unread-count", token=ta)).data == 1
    bad = await client.call("PUT", "/api/notification/read", token=ta, json={"ids": "1"})
    assert bad.code == 9001
    all_read = await client.call("PUT", "/api/notification/read-all", token=ta)
    assert all_read.data == {"updated": 1}
    assert (await client.call("GET", "/api/notification/unread-count", token=ta)).data == 0
    assert (await client.call("GET", "/api/notification", token=tb)).data["total"] == 0


async def test_openapi_lists_social_paths(client: Api) -> None:
    async with client.client.get("/api/docs") as resp:
        doc = await resp.json()
    for path in ("/api/friend/request", "/api/group/{groupId}/admin/{userId}",
                 "/api/whitelist/{userId}", "/api/notification/read-all",
                 "/api/friend/internal/check-blocked"):
        assert path in doc["paths"], path
