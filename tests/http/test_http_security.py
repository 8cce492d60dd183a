"""REST security: token forgery and revocation, limits, hostile input, envelope on
framework errors (404/405/413/malformed JSON), CORS."""

from __future__ import annotations

import base64
import json
import os
import time
import warnings

import jwt
from conftest import PASSWORD, SECRET, Api, make_config

from stompim.config import Config


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(user_id: int, username: str, jti: str, **over: object) -> dict:
    now = int(time.time())
    return {
        "userId": user_id,
        "username": username,
        "jti": jti,
        "iat": now,
        "exp": now + 3600,
        **over,
    }


async def _expect_1003(api: Api, token: str) -> None:
    reply = await api.call("GET", "/api/user/info", token=token)
    assert (reply.status, reply.code) == (401, 1003), reply.body


async def test_missing_or_malformed_authorization(client: Api) -> None:
    none = await client.call("GET", "/api/user/info")
    assert (none.status, none.code) == (401, 9002)
    basic = await client.call("GET", "/api/user/info", headers={"Authorization": "Basic YTpi"})
    assert (basic.status, basic.code) == (401, 9002)
    await _expect_1003(client, "not-a-jwt")


async def test_forged_tokens_are_refused(kv_client: Api) -> None:
    api = kv_client
    user, token = await api.user("alice")
    real = api.services.accounts.tokens.decode(token)
    payload = _claims(user["id"], "alice", real.jti)  # a jti that IS in the registry
    # alg "none": unsigned token.
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    await _expect_1003(api, f"{header}.{_b64(json.dumps(payload).encode())}.")
    # Another HMAC algorithm with the right secret.
    with warnings.catch_warnings():  # the test secret is short for HS512; irrelevant here
        warnings.simplefilter("ignore")
        hs512 = jwt.encode(payload, SECRET, algorithm="HS512")
    await _expect_1003(api, hs512)
    # HS256 with the wrong secret.
    await _expect_1003(
        api, jwt.encode(payload, "another-secret-that-is-long-enough-0123", algorithm="HS256")
    )
    # Tampered payload, original signature.
    head, body, sig = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged["userId"] = user["id"] + 1
    await _expect_1003(api, f"{head}.{_b64(json.dumps(forged).encode())}.{sig}")
    # Tampered signature.
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    await _expect_1003(api, f"{head}.{body}.{flipped}")
    # Expired (signed correctly, jti registered).
    await _expect_1003(
        api,
        jwt.encode(
            _claims(user["id"], "alice", real.jti, exp=int(time.time()) - 5),
            SECRET,
            algorithm="HS256",
        ),
    )
    # Correctly signed but never issued (jti not in the registry).
    await _expect_1003(
        api, jwt.encode(_claims(user["id"], "alice", "f" * 32), SECRET, algorithm="HS256")
    )
    # Missing claims.
    await _expect_1003(
        api,
        jwt.encode({"userId": user["id"], "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),
    )
    # The genuine token still works.
    assert (await api.call("GET", "/api/user/info", token=token)).status == 200


async def test_revoked_after_logout_on_another_node(
    cfg: Config, db, kv, kv_prefix: str, kv_client: Api
) -> None:
    """Two apps (two 'nodes') over one database; with Redis each node has its own
    client connection: a logout on node A is refused on node B at once."""
    from conftest import _serve

    from stompim.store import MemoryKeyValue, open_kv

    api_a = kv_client
    _, token = await api_a.user("bob")
    redis_url = os.environ.get("STOMPIM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    kv_b = kv if isinstance(kv, MemoryKeyValue) else await open_kv(redis_url, prefix=kv_prefix)
    try:
        async for api_b in _serve(cfg, db, kv_b):
            assert (await api_b.call("GET", "/api/user/info", token=token)).status == 200
            assert (await api_a.call("POST", "/api/user/logout", token=token)).status == 200
            await _expect_1003(api_b, token)
    finally:
        if kv_b is not kv:
            await kv_b.close()


async def test_sql_metacharacters_round_trip(client: Api) -> None:
    nasty = "x'; DROP TABLE users; -- \" \\ % _ `"
    reply = await client.call(
        "POST",
        "/api/user/register",
        json={"username": "carol", "password": PASSWORD + "'\"%;--", "nickname": nasty},
    )
    assert reply.status == 200 and reply.data["nickname"] == nasty
    token = await client.login("carol", PASSWORD + "'\"%;--")
    changes = {
        "nickname": "O'Brien \"; --",
        "signature": "1' OR '1'='1'; DELETE FROM users; --",
        "email": "o'brien+%_@example.com",
        "region": "`region`\\'%'",
        "avatar": "https://example.com/a.png?q=1'%20OR%201=1;--",
    }
    updated = await client.call("PUT", "/api/user/info", json=changes, token=token)
    assert updated.status == 200
    again = await client.call("GET", "/api/user/info", token=token)
    assert {k: again.data[k] for k in changes} == changes
    # Search keywords are data, not SQL or LIKE patterns.
    for keyword in ("' OR '1'='1", "%", "_arol", "carol' --", "carol%"):
        reply = await client.call(
            "GET", "/api/user/search", params={"keyword": keyword}, token=token
        )
        assert reply.status == 200 and reply.data["records"] == [], (keyword, reply.data)
    exact = await client.call("GET", "/api/user/search", params={"keyword": "carol"}, token=token)
    assert [u["nickname"] for u in exact.data["records"]] == ["O'Brien \"; --"]
    login = await client.call(
        "POST", "/api/user/login", json={"username": "carol' --", "password": "x' OR '1'='1"}
    )
    assert (login.status, login.code) == (400, 1002)


async def test_unknown_route_and_method_use_the_envelope(client: Api) -> None:
    missing = await client.call("GET", "/api/nope")
    assert (missing.status, missing.code) == (404, 9004)
    wrong_method = await client.call("DELETE", "/api/user/login")
    assert (wrong_method.status, wrong_method.code) == (405, 9001)
    assert "POST" in wrong_method.headers.get("Allow", "")


async def test_malformed_json_and_empty_body(client: Api) -> None:
    for raw in (b"{not json", b"", b"[1,2]", b'"str"', b"\xff\xfe"):
        reply = await client.call(
            "POST", "/api/user/login", data=raw, headers={"Content-Type": "application/json"}
        )
        assert (reply.status, reply.code) == (400, 9001), raw


async def test_oversize_body_gets_413_result(client: Api) -> None:
    big = json.dumps({"username": "a" * (70 * 1024), "password": PASSWORD})  # cfg limit 64 KiB
    reply = await client.call(
        "POST", "/api/user/register", data=big, headers={"Content-Type": "application/json"}
    )
    assert (reply.status, reply.code) == (413, 9006)


async def test_login_failures_rate_limited_per_account(kv_client: Api) -> None:
    api = kv_client  # cfg: login_max_failures = 3
    await api.register("dave")
    for _ in range(3):
        reply = await api.call(
            "POST", "/api/user/login", json={"username": "dave", "password": "wrong-pass1"}
        )
        assert reply.code == 1002
    blocked = await api.call(
        "POST", "/api/user/login", json={"username": "dave", "password": PASSWORD}
    )
    assert (blocked.status, blocked.code) == (429, 9005)
    # Another account from the same address is not blocked (the IP limit is 12).
    await api.register("erin")
    assert await api.login("erin")


async def test_successful_login_clears_account_failures(kv_client: Api) -> None:
    api = kv_client
    await api.register("frank")
    for _ in range(2):
        await api.call(
            "POST", "/api/user/login", json={"username": "frank", "password": "nope-123x"}
        )
    assert await api.login("frank")
    for _ in range(2):
        reply = await api.call(
            "POST", "/api/user/login", json={"username": "frank", "password": "nope-123x"}
        )
        assert reply.code == 1002  # still not blocked: the success reset the counter
    assert await api.login("frank")


async def test_login_failures_rate_limited_per_ip(kv_client: Api) -> None:
    api = kv_client  # 3 per account and address, 12 per address
    for i in range(12):
        reply = await api.call(
            "POST", "/api/user/login", json={"username": f"ghost{i}", "password": "nope-123x"}
        )
        assert reply.code == 1002
    await api.register("grace")
    blocked = await api.call(
        "POST", "/api/user/login", json={"username": "grace", "password": PASSWORD}
    )
    assert (blocked.status, blocked.code) == (429, 9005)


async def test_cors_preflight_and_headers(client: Api) -> None:
    origin = "http://localhost:5173"
    async with client.client.options(
        "/api/user/login",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    ) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == origin
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
        assert "PUT" in resp.headers["Access-Control-Allow-Methods"]
    reply = await client.call("GET", "/api/user/info", headers={"Origin": origin})
    assert reply.status == 401 and reply.headers["Access-Control-Allow-Origin"] == origin
    stranger = await client.call("GET", "/health", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in stranger.headers
    refused = await client.call(
        "OPTIONS",
        "/api/user/login",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert (refused.status, refused.code) == (403, 9003)
    assert "Access-Control-Allow-Origin" not in refused.headers


async def test_unexpected_error_is_500_result_without_details(
    client: Api, monkeypatch, caplog
) -> None:
    async def boom(self, keyword, **paging):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internal detail")

    _, token = await client.user("heidi")
    monkeypatch.setattr(type(client.services.accounts), "search", boom)
    with caplog.at_level("ERROR", logger="stompim.http.middlewares"):
        reply = await client.call("GET", "/api/user/search?keyword=x", token=token)
    assert (reply.status, reply.code) == (500, 9999)
    assert "secret" not in reply.body["message"]
    assert any("secret internal detail" in (r.exc_text or "") for r in caplog.records)


async def test_bcrypt_runs_off_the_event_loop(client: Api, monkeypatch) -> None:
    import asyncio
    import threading

    import bcrypt

    from stompim.im import passwords

    loop_thread = threading.get_ident()
    seen: list[int] = []
    real_checkpw, real_hashpw = bcrypt.checkpw, bcrypt.hashpw

    def checkpw(pw: bytes, hashed: bytes) -> bool:
        seen.append(threading.get_ident())
        return real_checkpw(pw, hashed)

    def hashpw(pw: bytes, salt: bytes) -> bytes:
        seen.append(threading.get_ident())
        return real_hashpw(pw, salt)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", checkpw)
    monkeypatch.setattr(passwords.bcrypt, "hashpw", hashpw)
    await client.register("ivan")
    logins = [
        client.call("POST", "/api/user/login", json={"username": "ivan", "password": PASSWORD})
        for _ in range(4)
    ]
    health = client.call("GET", "/health")
    replies = await asyncio.gather(*logins, health)
    assert all(r.status == 200 for r in replies)
    assert seen and loop_thread not in seen


async def test_short_body_limit_config_is_honoured(db, memory_kv) -> None:
    from conftest import _serve

    cfg = make_config(http={"max_body_bytes": 100})
    async for api in _serve(cfg, db, memory_kv):
        reply = await api.call(
            "POST", "/api/user/login", json={"username": "x" * 200, "password": PASSWORD}
        )
        assert (reply.status, reply.code) == (413, 9006)
