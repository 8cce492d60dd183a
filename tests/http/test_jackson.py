"""Request JSON read the way Spring Boot's Jackson reads it, through a real server on
SQLite and MariaDB: string ids, unknown properties, numbers for strings, null as "not
given", and whole objects sent back as profile pages do (issue 12)."""

from __future__ import annotations

from conftest import Api


async def _pair(client: Api) -> tuple[tuple[int, str], tuple[int, str]]:
    (a, ta), (b, tb) = [await client.user(name) for name in ("alice", "bobby")]
    return (int(a["id"]), ta), (int(b["id"]), tb)


async def test_string_ids_in_bodies_paths_and_queries(client: Api) -> None:
    (a, ta), (b, tb) = await _pair(client)
    sent = await client.call("POST", "/api/friend/request", token=ta,
                             json={"toUserId": str(b), "message": "hi"})
    assert sent.status == 200 and sent.data["toUserId"] == b
    accepted = await client.call("POST", f"/api/friend/request/{sent.data['id']}/accept",
                                 token=tb)
    assert accepted.data["status"] == 1
    group = await client.call("POST", "/api/group", token=ta,
                              json={"name": "G", "memberIds": [str(b)]})
    assert group.data["memberIds"] == [a, b]
    check = await client.call("PUT", f"/api/group/{group.data['id']}/owner", token=ta,
                              json={"userId": f" {b} "})
    assert check.status == 200
    info = await client.call("GET", f"/api/group/{group.data['id']}", token=tb)
    assert info.data["ownerId"] == b


async def test_unknown_properties_are_ignored(client: Api) -> None:
    (_, ta), (b, _) = await _pair(client)
    reply = await client.call("POST", "/api/friend/request", token=ta, json={
        "toUserId": b, "message": "hi", "requestId": 99, "fromUserId": 12345,
        "__proto__": {"admin": True}, "nested": [[{"x": None}]],
    })
    assert reply.status == 200 and reply.data["fromUserId"] != 12345
    login = await client.call("POST", "/api/user/login", json={
        "username": "alice", "password": "passw0rd-ok", "rememberMe": True, "captcha": "abcd",
    })
    assert login.status == 200


async def test_numbers_where_strings_are_expected(client: Api) -> None:
    reply = await client.call("POST", "/api/user/register", json={
        "username": "carol", "password": "passw0rd-ok", "phone": 13800000007,
    })
    assert reply.status == 200 and reply.data["phone"] == "13800000007"
    login = await client.call("POST", "/api/user/login",
                              json={"phone": 13800000007, "password": "passw0rd-ok"})
    assert login.status == 200


async def test_the_whole_user_object_sent_back_to_put_user_info(client: Api) -> None:
    await client.register("dave", phone="13800000008")
    token = await client.login("dave")
    me = (await client.call("GET", "/api/user/info", token=token)).data
    edited = {**me, "nickname": "Dave D", "signature": "hello", "gender": "1"}
    reply = await client.call("PUT", "/api/user/info", json=edited, token=token)
    assert reply.status == 200, reply.body
    assert (reply.data["nickname"], reply.data["signature"], reply.data["gender"]) == (
        "Dave D", "hello", 1,
    )
    # unchanged read-only fields pass; createdAt in another format is ignored
    again = await client.call("PUT", "/api/user/info", token=token,
                              json={**reply.data, "createdAt": "2024-01-01T00:00:00Z"})
    assert again.status == 200 and again.data == reply.data
    # a read-only field with another value is refused by name, nothing is changed
    for field, value in (("phone", "13900000000"), ("status", 0), ("username", "eve")):
        refused = await client.call("PUT", "/api/user/info", token=token,
                                    json={**reply.data, field: value, "nickname": "X"})
        assert (refused.status, refused.code) == (400, 9001)
        assert refused.body["message"].startswith(f"{field}:"), refused.body
    assert (await client.call("GET", "/api/user/info", token=token)).data == reply.data


async def test_null_means_not_given_on_partial_updates(client: Api) -> None:
    _, token = await client.user("erin")
    await client.call("PUT", "/api/user/info", token=token,
                      json={"nickname": "Erin", "signature": "sig", "region": "Lyon"})
    reply = await client.call("PUT", "/api/user/info", token=token, json={
        "nickname": None, "signature": None, "region": "Nice", "email": None,
    })
    assert reply.status == 200
    assert (reply.data["nickname"], reply.data["signature"], reply.data["region"]) == (
        "Erin", "sig", "Nice",
    )
    (owner, tok), _ = await _pair(client)
    group = (await client.call("POST", "/api/group", token=tok,
                               json={"name": "G", "announcement": "a"})).data
    sent_back = {**group, "name": None, "announcement": "b", "allMuted": None,
                 "memberCount": 999, "ownerId": 1}
    updated = await client.call("PUT", f"/api/group/{group['id']}", token=tok, json=sent_back)
    assert updated.status == 200
    assert (updated.data["name"], updated.data["announcement"]) == ("G", "b")
    assert updated.data["memberCount"] == 1 and updated.data["ownerId"] == owner


async def test_an_empty_body_is_an_empty_object(client: Api) -> None:
    _, token = await client.user("frank")
    reply = await client.call("PUT", "/api/user/info", token=token, data=b"",
                              headers={"Content-Type": "application/json"})
    assert reply.status == 200 and reply.data["nickname"] == "frank"
    missing = await client.call("POST", "/api/friend/request", token=token, data=b"",
                                headers={"Content-Type": "application/json"})
    assert (missing.status, missing.code) == (400, 9001)
    assert missing.body["message"] == "toUserId: is required"
