"""REST /api/user/*: the happy paths and every error code, on SQLite and MySQL."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, Api

from stompim.im.presence import presence_key


async def test_register_returns_own_view(client: Api) -> None:
    reply = await client.call(
        "POST",
        "/api/user/register",
        json={
            "username": "alice",
            "password": PASSWORD,
            "nickname": "Alice A",
            "phone": "13800000001",
        },
    )
    assert reply.status == 200
    user = reply.data
    assert user["username"] == "alice" and user["nickname"] == "Alice A"
    assert user["phone"] == "13800000001" and user["status"] == 1
    assert isinstance(user["id"], int) and user["createdAt"] > 0
    assert set(user) == {
        "id",
        "username",
        "nickname",
        "avatar",
        "phone",
        "signature",
        "gender",
        "email",
        "region",
        "status",
        "createdAt",
    }


async def test_register_defaults_nickname_to_username(client: Api) -> None:
    user = await client.register("bob_1")
    assert user["nickname"] == "bob_1" and user["phone"] is None


@pytest.mark.parametrize("username", ["ab", "1abc", "_abc", "a" * 33, "al ice", "alíce", "a-b-c"])
async def test_register_refuses_bad_usernames(client: Api, username: str) -> None:
    reply = await client.call(
        "POST", "/api/user/register", json={"username": username, "password": PASSWORD}
    )
    assert (reply.status, reply.code) == (400, 9001)
    assert "username" in reply.body["message"]


@pytest.mark.parametrize("password", ["short1", "onlyletters", "1234567890", "a1" * 33])
async def test_register_refuses_weak_passwords(client: Api, password: str) -> None:
    reply = await client.call(
        "POST", "/api/user/register", json={"username": "carol", "password": password}
    )
    assert (reply.status, reply.code) == (400, 1007)


async def test_register_duplicate_username_and_phone(client: Api) -> None:
    await client.register("dave", phone="13800000002")
    again = await client.call(
        "POST", "/api/user/register", json={"username": "dave", "password": PASSWORD}
    )
    assert (again.status, again.code) == (409, 1001)
    phone = await client.call(
        "POST",
        "/api/user/register",
        json={"username": "dave2", "password": PASSWORD, "phone": "13800000002"},
    )
    assert (phone.status, phone.code) == (409, 1005)


async def test_register_missing_fields_and_wrong_types(client: Api) -> None:
    missing = await client.call("POST", "/api/user/register", json={"username": "erin"})
    assert (missing.status, missing.code) == (400, 9001) and "password" in missing.body["message"]
    wrong = await client.call(
        "POST", "/api/user/register", json={"username": 12345, "password": PASSWORD}
    )
    assert (wrong.status, wrong.code) == (400, 9001) and "username" in wrong.body["message"]
    not_object = await client.call("POST", "/api/user/register", json=["erin", PASSWORD])
    assert (not_object.status, not_object.code) == (400, 9001)


async def test_register_with_sms_code(kv_client: Api) -> None:
    api = kv_client
    sent = await api.call("POST", "/api/user/sms-code", json={"phone": "+8613900000001"})
    assert sent.status == 200 and sent.data == {"expiresIn": 300}
    code = api.sms.sent["+8613900000001"]
    assert len(code) == 6 and code.isdigit()
    wrong = "000000" if code != "000000" else "111111"
    bad = await api.call(
        "POST",
        "/api/user/register",
        json={
            "username": "frank",
            "password": PASSWORD,
            "phone": "+8613900000001",
            "smsCode": wrong,
        },
    )
    assert (bad.status, bad.code) == (400, 1006)
    good = await api.call(
        "POST",
        "/api/user/register",
        json={
            "username": "frank",
            "password": PASSWORD,
            "phone": "+8613900000001",
            "smsCode": code,
        },
    )
    assert good.status == 200 and good.data["phone"] == "+8613900000001"
    # A code is used up by a successful registration.
    reuse = await api.call(
        "POST",
        "/api/user/register",
        json={
            "username": "frank2",
            "password": PASSWORD,
            "phone": "+8613900000001",
            "smsCode": code,
        },
    )
    assert (reuse.status, reuse.code) == (400, 1006)


async def test_login_by_username_and_by_phone(client: Api) -> None:
    user = await client.register("grace", phone="13800000003")
    by_name = await client.call(
        "POST", "/api/user/login", json={"username": "grace", "password": PASSWORD}
    )
    assert by_name.status == 200
    assert set(by_name.data) == {"token", "expiresAt", "user"}
    assert by_name.data["user"]["id"] == user["id"]
    assert by_name.data["user"]["phone"] == "13800000003"
    assert by_name.data["expiresAt"] > by_name.body["timestamp"]
    by_phone = await client.call(
        "POST", "/api/user/login", json={"phone": "13800000003", "password": PASSWORD}
    )
    assert by_phone.status == 200 and by_phone.data["user"]["id"] == user["id"]
    phone_in_username = await client.call(
        "POST", "/api/user/login", json={"username": "13800000003", "password": PASSWORD}
    )
    assert phone_in_username.status == 200


async def test_login_does_not_reveal_whether_user_exists(client: Api) -> None:
    await client.register("heidi")
    wrong_pw = await client.call(
        "POST", "/api/user/login", json={"username": "heidi", "password": "wrong-pass1"}
    )
    no_user = await client.call(
        "POST", "/api/user/login", json={"username": "nobody_here", "password": "wrong-pass1"}
    )
    assert (wrong_pw.status, wrong_pw.code) == (no_user.status, no_user.code) == (400, 1002)
    assert wrong_pw.body["message"] == no_user.body["message"]


async def test_login_missing_fields(client: Api) -> None:
    reply = await client.call("POST", "/api/user/login", json={"password": PASSWORD})
    assert (reply.status, reply.code) == (400, 9001)
    reply = await client.call("POST", "/api/user/login", json={"username": "x"})
    assert (reply.status, reply.code) == (400, 9001)


async def test_disabled_user_cannot_login_and_is_not_found(client: Api) -> None:
    ivan, _ = await client.user("ivan")
    _, judy_token = await client.user("judy")
    await client.services.accounts.disable_user(ivan["id"])
    login = await client.call(
        "POST", "/api/user/login", json={"username": "ivan", "password": PASSWORD}
    )
    assert (login.status, login.code) == (403, 1008)
    info = await client.call("GET", f"/api/user/info/{ivan['id']}", token=judy_token)
    assert (info.status, info.code) == (404, 1004)


async def test_info_own_and_other(client: Api) -> None:
    me, token = await client.user("kate")
    other = await client.register("leo", phone="13800000004")
    own = await client.call("GET", "/api/user/info", token=token)
    assert own.status == 200 and own.data["id"] == me["id"]
    seen = await client.call("GET", f"/api/user/info/{other['id']}", token=token)
    assert seen.status == 200 and seen.data["username"] == "leo"
    assert seen.data["phone"] is None and seen.data["email"] is None  # private fields hidden
    missing = await client.call("GET", "/api/user/info/999999999", token=token)
    assert (missing.status, missing.code) == (404, 1004)
    bad_id = await client.call("GET", "/api/user/info/abc", token=token)
    assert (bad_id.status, bad_id.code) == (400, 9001)
    zero = await client.call("GET", "/api/user/info/0", token=token)
    assert (zero.status, zero.code) == (400, 9001)


async def test_update_profile(client: Api) -> None:
    _, token = await client.user("mallory")
    changes = {
        "nickname": "Mal",
        "avatar": "https://cdn.example.com/a.png",
        "signature": "hi",
        "gender": 2,
        "email": "mal@example.com",
        "region": "Paris",
    }
    reply = await client.call("PUT", "/api/user/info", json=changes, token=token)
    assert reply.status == 200
    assert {k: reply.data[k] for k in changes} == changes
    again = await client.call("GET", "/api/user/info", token=token)
    assert {k: again.data[k] for k in changes} == changes


@pytest.mark.parametrize(
    "changes",
    [
        {"nickname": ""},
        {"nickname": "n" * 65},
        {"avatar": "javascript:alert(1)"},
        {"avatar": "ftp://example.com/a.png"},
        {"avatar": "https://e.com/" + "a" * 500},
        {"signature": "s" * 256},
        {"gender": 3},
        {"gender": True},
        {"gender": "x"},
        {"gender": 1.5},
        {"email": "not-an-email"},
        {"region": "r" * 65},
        {"status": 0},
        {"password": "newpassw0rd"},
        {"phone": "13800000009"},
    ],
)
async def test_update_profile_refuses_invalid(client: Api, changes: dict) -> None:
    _, token = await client.user("nina")
    reply = await client.call("PUT", "/api/user/info", json=changes, token=token)
    assert (reply.status, reply.code) == (400, 9001), reply.body
    assert next(iter(changes)) in reply.body["message"]
    user = await client.call("GET", "/api/user/info", token=token)
    assert user.data["nickname"] == "nina" and user.data["status"] == 1


async def test_update_cannot_touch_another_user(client: Api) -> None:
    victim, _ = await client.user("oscar")
    me, token = await client.user("peggy")
    reply = await client.call(
        "PUT", "/api/user/info", json={"id": victim["id"], "nickname": "pwned"}, token=token
    )
    assert (reply.status, reply.code) == (400, 9001)
    reply = await client.call(
        "PUT", "/api/user/info", json={"username": "oscar", "nickname": "pwned"}, token=token
    )
    assert (reply.status, reply.code) == (400, 9001)
    oscar = await client.services.accounts.get_user(victim["id"])
    assert oscar.nickname == "oscar"
    peggy = await client.services.accounts.get_user(me["id"])
    assert peggy.nickname == "peggy"
    # Echoing one's own id back (front ends send the whole object) is harmless.
    ok = await client.call(
        "PUT",
        "/api/user/info",
        json={"id": me["id"], "username": "peggy", "nickname": "P"},
        token=token,
    )
    assert ok.status == 200 and ok.data["nickname"] == "P"
    assert (await client.services.accounts.get_user(victim["id"])).nickname == "oscar"


async def test_search_exact_username_or_phone(client: Api) -> None:
    _, token = await client.user("quinn")
    rupert = await client.register("rupert", phone="13800000005")
    by_name = await client.call("GET", "/api/user/search?keyword=rupert", token=token)
    assert [u["id"] for u in by_name.data["records"]] == [rupert["id"]]
    assert by_name.data["records"][0]["phone"] is None
    by_phone = await client.call("GET", "/api/user/search?keyword=13800000005", token=token)
    assert [u["id"] for u in by_phone.data["records"]] == [rupert["id"]]
    partial = await client.call("GET", "/api/user/search?keyword=rup", token=token)
    assert partial.data["records"] == []
    wildcard = await client.call("GET", "/api/user/search?keyword=%25", token=token)
    assert wildcard.data["records"] == []
    missing = await client.call("GET", "/api/user/search", token=token)
    assert (missing.status, missing.code) == (400, 9001)


async def test_change_password(kv_client: Api) -> None:
    api = kv_client
    await api.register("sybil")
    current = await api.login("sybil")
    other = await api.login("sybil")
    wrong = await api.call(
        "PUT",
        "/api/user/password",
        json={"oldPassword": "not-it-123", "newPassword": "newpassw0rd"},
        token=current,
    )
    assert (wrong.status, wrong.code) == (400, 1002)
    weak = await api.call(
        "PUT",
        "/api/user/password",
        json={"oldPassword": PASSWORD, "newPassword": "weak"},
        token=current,
    )
    assert (weak.status, weak.code) == (400, 1007)
    reply = await api.call(
        "PUT",
        "/api/user/password",
        json={"oldPassword": PASSWORD, "newPassword": "newpassw0rd"},
        token=current,
    )
    assert reply.status == 200 and reply.data is None
    # The current token stays valid, every other one is revoked.
    assert (await api.call("GET", "/api/user/info", token=current)).status == 200
    revoked = await api.call("GET", "/api/user/info", token=other)
    assert (revoked.status, revoked.code) == (401, 1003)
    other_jti = api.services.accounts.tokens.decode(other).jti
    current_jti = api.services.accounts.tokens.decode(current).jti
    closed = [c for c in api.publisher.closed if c[1] == "password changed"]
    # the other token's sessions, then every login+password session ("")
    assert [c[2] for c in closed] == [other_jti, ""] and current_jti not in [c[2] for c in closed]
    old = await api.call(
        "POST", "/api/user/login", json={"username": "sybil", "password": PASSWORD}
    )
    assert (old.status, old.code) == (400, 1002)
    assert await api.login("sybil", "newpassw0rd")


async def test_logout_revokes_only_that_token(kv_client: Api) -> None:
    api = kv_client
    user, token = await api.user("trent")
    second = await api.login("trent")
    reply = await api.call("POST", "/api/user/logout", token=token)
    assert reply.status == 200 and reply.data is None
    after = await api.call("GET", "/api/user/info", token=token)
    assert (after.status, after.code) == (401, 1003)
    assert (await api.call("GET", "/api/user/info", token=second)).status == 200
    jti = api.services.accounts.tokens.decode(token).jti
    assert api.publisher.closed == [(user["id"], "token revoked", jti)]
    twice = await api.call("POST", "/api/user/logout", token=token)
    assert (twice.status, twice.code) == (401, 1003)


async def test_sms_code_validation(kv_client: Api) -> None:
    bad = await kv_client.call("POST", "/api/user/sms-code", json={"phone": "12ab"})
    assert (bad.status, bad.code) == (400, 9001)
    missing = await kv_client.call("POST", "/api/user/sms-code", json={})
    assert (missing.status, missing.code) == (400, 9001)


async def test_sms_code_rate_limited_per_phone(kv_client: Api) -> None:
    api = kv_client  # cfg: 3 per phone per hour, 6 per IP
    for _ in range(3):
        assert (
            await api.call("POST", "/api/user/sms-code", json={"phone": "13700000001"})
        ).status == 200
    over = await api.call("POST", "/api/user/sms-code", json={"phone": "13700000001"})
    assert (over.status, over.code) == (429, 9005)
    # Another phone still works (the per-IP budget of 6 is not spent yet)...
    for _ in range(2):
        assert (
            await api.call("POST", "/api/user/sms-code", json={"phone": "13700000002"})
        ).status == 200
    # ... until the per-IP limit: 3 + 1 + 2 = 6 counted from 127.0.0.1.
    ip_over = await api.call("POST", "/api/user/sms-code", json={"phone": "13700000003"})
    assert (ip_over.status, ip_over.code) == (429, 9005)


async def test_online_status(kv_client: Api) -> None:
    api = kv_client
    a, token = await api.user("ursula")
    b = await api.register("victor")
    await api.services.kv.set(presence_key(b["id"]), "1", ttl=60)
    reply = await api.call("GET", f"/api/user/online?ids={a['id']},{b['id']}", token=token)
    assert reply.status == 200
    assert reply.data == {str(a["id"]): False, str(b["id"]): True}
    empty = await api.call("GET", "/api/user/online?ids=", token=token)
    assert empty.data == {}
    bad = await api.call("GET", "/api/user/online?ids=1,x", token=token)
    assert (bad.status, bad.code) == (400, 9001)
    many = ",".join(str(i) for i in range(1, 300))
    too_many = await api.call("GET", f"/api/user/online?ids={many}", token=token)
    assert (too_many.status, too_many.code) == (400, 9001)
