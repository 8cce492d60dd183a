"""The REST edge tried as an attacker would: oversized and malformed bodies, duplicate keys,
non-object JSON, wrong content types, invalid UTF-8 in bodies, paths and query strings,
nesting. Every answer is a 4xx naming the field or the body, never a 500 or a traceback."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from conftest import Api, _serve, make_config

from stompim.store import Database, KeyValue

JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def api(db: Database, memory_kv: KeyValue) -> AsyncIterator[Api]:
    """Bodies may be 2 MiB (as for uploads), JSON bodies stay at the 64 KiB default."""
    cfg = make_config(http={"max_body_bytes": 2 * 1024 * 1024})
    assert cfg.http.max_json_bytes == 64 * 1024
    async for served in _serve(cfg, db, memory_kv):
        yield served


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO):
        yield
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], [
        r.getMessage() for r in caplog.records
    ]


def _refused(reply_status: int, body: dict, starts: str) -> None:
    assert reply_status == 400 and body["code"] == 9001, body
    assert body["message"].startswith(starts), body


async def test_a_megabyte_of_json_is_413_before_decoding(api: Api) -> None:
    _, token = await api.user("mallory")
    big = json.dumps({"toUserId": 2, "message": "x" * 1_000_000})
    reply = await api.call("POST", "/api/friend/request", data=big, headers=JSON, token=token)
    assert (reply.status, reply.code) == (413, 9006)
    assert "65536" in reply.body["message"]
    # chunked (no Content-Length): refused after reading, the same way
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 50_000
        yield b'{"toUserId": 2}'

    async with api.client.post("/api/friend/request", data=chunks(), headers={
        **JSON, "Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 413 and (await resp.json())["code"] == 9006
    # under the cap, an over-long field is refused by name
    long = await api.call("POST", "/api/friend/request", token=token,
                          json={"toUserId": 2, "message": "x" * 60_000})
    _refused(long.status, long.body, "message:")
    profile = await api.call("PUT", "/api/user/info", token=token,
                             json={"nickname": "n" * 60_000})
    _refused(profile.status, profile.body, "nickname:")


async def test_duplicate_keys_last_one_counts(api: Api) -> None:
    (_, token), (other, _) = [await api.user(n) for n in ("alice", "bobby")]
    ok = await api.call("POST", "/api/friend/request", headers=JSON, token=token,
                        data=f'{{"toUserId": "x", "toUserId": {other["id"]}}}')
    assert ok.status == 200 and ok.data["toUserId"] == other["id"]
    bad = await api.call("POST", "/api/friend/request", headers=JSON, token=token,
                         data=f'{{"toUserId": {other["id"]}, "toUserId": "x"}}')
    _refused(bad.status, bad.body, "toUserId:")


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"5", b"null", b"true", b"[{}]"])
async def test_non_object_json(api: Api, raw: bytes) -> None:
    reply = await api.call("POST", "/api/user/login", data=raw, headers=JSON)
    _refused(reply.status, reply.body, "request body: must be a JSON object")


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"username=alice&password=x1234567", "application/x-www-form-urlencoded"),
        (b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--\r\n",
         "multipart/form-data; boundary=b"),
        (b"<user><name>x</name></user>", "application/xml"),
        (b"\xff\xfe{\x00}", "application/json"),
        (b'{"username": "\xc3\x28", "password": "x"}', "application/json"),
        (b'{"username": "\\ud800", "password": "x"}', "application/json"),
        (b'{"username": "alice", "password": "x"', "application/json"),
        (b"\xef\xbb\xbf{}", "application/json"),
    ],
)
async def test_bodies_that_are_not_json(api: Api, raw: bytes, content_type: str) -> None:
    reply = await api.call("POST", "/api/user/login", data=raw,
                           headers={"Content-Type": content_type})
    _refused(reply.status, reply.body, "request body: malformed JSON (")


async def test_json_under_another_content_type_is_read(api: Api) -> None:
    """As lenient as the Content-Type allows: JSON is JSON (axios may label it text/plain)."""
    await api.register("carol")
    reply = await api.call("POST", "/api/user/login", headers={"Content-Type": "text/plain"},
                           data=json.dumps({"username": "carol", "password": "passw0rd-ok"}))
    assert reply.status == 200


async def test_nesting(api: Api) -> None:
    _, token = await api.user("dave")
    deep = b'{"name": "g", "junk": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    reply = await api.call("POST", "/api/group", data=deep, headers=JSON, token=token)
    _refused(reply.status, reply.body, "request body: malformed JSON (recursion")
    nested = await api.call("POST", "/api/group", token=token,
                            json={"name": "g", "memberIds": [[[1]]]})
    _refused(nested.status, nested.body, "memberIds[0]: must be an integer")
    objects = await api.call("POST", "/api/group", token=token,
                             json={"name": {"$ne": ""}, "memberIds": {"0": 1}})
    _refused(objects.status, objects.body, "name: must be a string")


async def test_invalid_utf8_and_control_bytes_in_paths_and_queries(api: Api) -> None:
    _, token = await api.user("erin")
    path = await api.call("GET", "/api/user/info/%ff%fe", token=token)
    _refused(path.status, path.body, "userId:")
    search = await api.call("GET", "/api/user/search?keyword=%ff%fe%00", token=token)
    assert search.status == 200 and search.data["records"] == []
    history = await api.call("GET", "/api/message/history?conversationId=%ff", token=token)
    _refused(history.status, history.body, "conversationId:")
    control = await api.call("PUT", "/api/user/info", token=token,
                             json={"nickname": "a\u0000b"})
    _refused(control.status, control.body, "nickname:")


async def test_oversized_request_lines_and_headers_are_refused_by_aiohttp(api: Api) -> None:
    """aiohttp refuses these before any handler runs (a plain-text 400, no envelope)."""
    async with api.client.get("/api/user/search?keyword=" + "k" * 1_000_000) as resp:
        assert resp.status in (400, 414)
    async with api.client.get("/health", headers={"X-Junk": "j" * 100_000}) as resp:
        assert resp.status in (400, 431)
