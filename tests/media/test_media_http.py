"""Uploads and downloads over REST, on SQLite and MariaDB, on local disk and on S3 (moto).

Each test runs against a real aiohttp server; files are real JPEG/PNG/PDF bytes
made by tests/media/_files.py. On S3 the node answers a checked download with a
redirect to the store's presigned URL, which the client follows (as a browser does).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from PIL import Image

from stompim.im import errors as codes

from ._files import (
    SECRET_MAKER,
    elf_executable,
    jpeg_with_gps,
    pdf,
    png,
    png_bomb,
    windows_executable,
)
from .conftest import MediaClient, MediaNodeFactory, Reply, User


async def _stored_blobs(api: MediaClient) -> int:
    return int(await api.services.db.fetch_val("SELECT COUNT(*) FROM media_blob"))


def _on_s3(api: MediaClient) -> bool:
    return api.services.media.blobs.kind == "s3"


def _assert_downloaded(api: MediaClient, reply: Reply) -> None:
    assert reply.status in (200, 206), reply.body[:300]
    if _on_s3(api):  # the node checked the link, the store served the bytes
        assert [r.status for r in reply.history] == [302]
        assert (
            reply.history[0].headers["Location"].startswith(api.services.config.media.s3_endpoint)
        )
    else:
        assert reply.history == ()


async def test_image_upload_answer_and_download(media_node: MediaNodeFactory) -> None:
    api = await media_node()
    alice = await api.user("alice")
    original = jpeg_with_gps(64, 48)
    data = await api.uploaded(
        alice, original, name="../holiday.png", purpose="chat", content_type="application/pdf"
    )
    assert data["contentType"] == "image/jpeg"  # sniffed; neither the name nor the header
    assert data["name"] == "holiday.png"
    assert (data["width"], data["height"]) == (48, 64)  # upright after the EXIF orientation
    assert data["purpose"] == "chat" and data["fileId"] > 0
    assert data["expiresAt"] > 0 and data["thumbnailUrl"]

    got = await api.request("GET", data["url"])
    _assert_downloaded(api, got)
    assert len(got.body) == data["size"]
    assert SECRET_MAKER.encode() not in got.body and b"Exif" not in got.body
    assert got.headers["Content-Type"] == "image/jpeg"
    assert got.headers["Content-Disposition"].startswith("inline;")
    assert "private" in got.headers["Cache-Control"]
    with Image.open(io.BytesIO(got.body)) as image:
        assert image.size == (48, 64) and not image.getexif()

    thumb = await api.request("GET", data["thumbnailUrl"])
    _assert_downloaded(api, thumb)
    with Image.open(io.BytesIO(thumb.body)) as image:
        assert max(image.size) <= api.services.config.media.thumbnail_size


async def test_node_headers_etag_range_and_revalidation(media_node: MediaNodeFactory) -> None:
    api = await media_node(s3_redirect=False)  # on S3 too: the node streams the object itself
    alice = await api.user("alice")
    content = pdf("ranges") + bytes(range(256)) * 40
    data = await api.uploaded(alice, content, name="Bericht für Ö.pdf")
    url = data["url"]

    full = await api.request("GET", url)
    assert full.status == 200 and full.body == content and full.history == ()
    etag = full.headers["ETag"]
    assert etag.startswith('"') and data["sha256"][:32] in etag
    assert full.headers["Accept-Ranges"] == "bytes"
    assert full.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in full.headers["Content-Security-Policy"]
    assert full.headers["Content-Disposition"] == (
        'attachment; filename="Bericht f_r _.pdf"; '
        "filename*=UTF-8''Bericht%20f%C3%BCr%20%C3%96.pdf"
    )
    max_age = int(full.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
    assert 3600 <= max_age <= 4500

    part = await api.request("GET", url, headers={"Range": "bytes=10-19"})
    assert part.status == 206 and part.body == content[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(content)}"
    tail = await api.request("GET", url, headers={"Range": "bytes=-7"})
    assert tail.status == 206 and tail.body == content[-7:]
    beyond = await api.request("GET", url, headers={"Range": f"bytes={len(content)}-"})
    assert beyond.status == 416 and beyond.code == codes.BAD_REQUEST
    assert beyond.headers["Content-Range"] == f"bytes */{len(content)}"
    several = await api.request("GET", url, headers={"Range": "bytes=0-1,5-6"})
    assert several.status == 200 and several.body == content  # not supported: the whole file
    stale = await api.request("GET", url, headers={"Range": "bytes=0-1", "If-Range": '"other"'})
    assert stale.status == 200 and stale.body == content

    same = await api.request("GET", url, headers={"If-None-Match": etag})
    assert same.status == 304 and same.body == b"" and same.headers["ETag"] == etag

    by_token = await api.request("GET", f"/api/file/{data['fileId']}", token=alice.token)
    assert by_token.status == 200 and by_token.body == content
    assert by_token.headers["Cache-Control"] == "private, no-cache"


async def test_same_content_is_stored_once_but_is_two_files(media_node: MediaNodeFactory) -> None:
    api = await media_node()
    alice, bob = await api.user("alice"), await api.user("bob")
    first = await api.uploaded(alice, png(), name="a.png")
    second = await api.uploaded(bob, png(), name="b.png")
    third = await api.uploaded(alice, png(), name="c.png", purpose="avatar")
    assert len({first["fileId"], second["fileId"], third["fileId"]}) == 3
    assert first["sha256"] == second["sha256"] == third["sha256"]
    assert await _stored_blobs(api) == 1
    blob = await api.services.media.repo.blob_by_sha(first["sha256"])
    assert blob is not None and await api.services.media.blobs.exists(blob.storage_key)
    owners = await api.services.db.fetch_all("SELECT owner_id FROM media_file ORDER BY id")
    assert [r["owner_id"] for r in owners] == [alice.id, bob.id, alice.id]
    for data in (first, second, third):
        _assert_downloaded(api, await api.request("GET", data["url"]))


@pytest.mark.parametrize("content", [elf_executable(), windows_executable()])
async def test_executable_named_png_is_refused(
    media_node: MediaNodeFactory, content: bytes
) -> None:
    api = await media_node()
    alice = await api.user("alice")
    reply = await api.upload(alice, content, name="cute-cat.png", content_type="image/png")
    assert reply.status == 415 and reply.code == codes.FILE_TYPE_REFUSED
    assert "executable" in reply.json["message"] or "msdownload" in reply.json["message"]
    assert await api.services.db.fetch_val("SELECT COUNT(*) FROM media_file") == 0
    assert list(api.services.media.spool_dir.glob("*")) == []


async def test_decompression_bomb_is_refused(media_node: MediaNodeFactory) -> None:
    api = await media_node()
    alice = await api.user("alice")
    reply = await api.upload(alice, png_bomb(30000, 30000), name="bomb.png")
    assert reply.status == 413 and reply.code == codes.BAD_IMAGE
    small_limit = await media_node(max_image_pixels=1_000_000)
    bob = await small_limit.user("bob")
    reply = await small_limit.upload(bob, png(1500, 1000), name="big.png")
    assert (
        reply.status == 413
        and reply.code == codes.BAD_IMAGE
        and "1500x1000" in reply.json["message"]
    )
    assert await _stored_blobs(api) == 0
    assert list(api.services.media.spool_dir.glob("*")) == []


async def test_size_limits_per_purpose_and_quota(media_node: MediaNodeFactory) -> None:
    api = await media_node(max_avatar_bytes=2000, max_chat_bytes=40_000, user_quota_bytes=100_000)
    alice = await api.user("alice")
    big_avatar = await api.upload(
        alice, png(200, 200, (1, 2, 3)) + b"\x00" * 3000, purpose="avatar"
    )
    assert big_avatar.status == 413 and big_avatar.code == codes.FILE_TOO_LARGE
    assert "2000 bytes" in big_avatar.json["message"]
    too_big = await api.upload(alice, pdf() + b"x" * 50_000)
    assert too_big.status == 413 and too_big.code == codes.FILE_TOO_LARGE
    for i in range(3):  # 3 x ~30 KB fit into 100 KB ...
        await api.uploaded(alice, pdf(f"doc {i}") + b"y" * 30_000)
    over = await api.upload(alice, pdf("one more") + b"z" * 30_000)  # ... a fourth does not
    assert over.status == 413 and over.code == codes.QUOTA_EXCEEDED
    bob = await api.user("bob")
    await api.uploaded(bob, pdf("bob's") + b"z" * 30_000)  # quotas are per user


async def test_links_tampered_expired_or_missing_are_refused(media_node: MediaNodeFactory) -> None:
    api = await media_node()
    alice = await api.user("alice")
    data = await api.uploaded(alice, png())
    parts = urlsplit(data["url"])
    query = dict(parse_qsl(parts.query))

    def url(**changes: str) -> str:
        return f"{parts.path}?{urlencode({**query, **changes})}"

    for bad in (
        url(sig=query["sig"][::-1]),
        url(exp=str(int(query["exp"]) + 60)),
        f"{parts.path}?sig={query['sig']}",
        url(exp="-1"),
    ):
        refused = await api.request("GET", bad)
        assert refused.status == 403 and refused.code == codes.LINK_INVALID, bad
    other_file = await api.request(
        "GET", url().replace(f"/{data['fileId']}?", f"/{data['fileId'] + 1}?")
    )
    assert other_file.status == 403

    api.services.media.clock = lambda: (int(query["exp"]) + 1) * 1000  # time passes
    expired = await api.request("GET", url())
    assert expired.status == 403 and "expired" in expired.json["message"]

    nothing = await api.request("GET", parts.path)
    assert nothing.status == 401 and nothing.code == codes.UNAUTHORIZED
    bad_token = await api.request("GET", parts.path, token="not-a-token")
    assert bad_token.status == 401


async def test_bad_requests_get_clear_refusals(media_node: MediaNodeFactory) -> None:
    api = await media_node()
    alice = await api.user("alice")
    as_json = await api.request("POST", "/api/file/upload", token=alice.token, json={"file": "x"})
    assert as_json.status == 400 and as_json.code == codes.BAD_REQUEST
    no_file = await api.request(
        "POST", "/api/file/upload", token=alice.token, data={"purpose": "chat", "other": "x"}
    )
    assert no_file.status == 400 and "file" in no_file.json["message"]
    bad_purpose = await api.upload(alice, png(), purpose="wallpaper")
    assert bad_purpose.status == 400 and "purpose" in bad_purpose.json["message"]
    anonymous = await api.request("POST", "/api/file/upload", data={"file": "x"})
    assert anonymous.status == 401
    for path in ("/api/file/0", "/api/file/abc", f"/api/file/{'9' * 30}"):
        reply = await api.request("GET", path, token=alice.token)
        assert reply.status == 400, path
    for path in (f"/api/file/{'9' * 19}", f"/api/file/{'9' * 19}/info"):  # > BIGINT
        reply = await api.request("GET", path, token=alice.token)
        assert reply.status == 400, path
    huge = await api.request(
        "PUT", "/api/user/info", token=alice.token, json={"avatarFileId": "9" * 30}
    )
    assert huge.status == 400 and "avatarFileId" in huge.json["message"]
    form = {"Content-Type": "multipart/form-data; boundary=XX"}
    part = b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
    for headers, body in (
        ({"Content-Type": "multipart/form-data"}, b"no boundary"),
        (form, b"no starting boundary"),
        (form, part + b"cut off before the closing boundary"),
    ):
        broken = await api.request(
            "POST", "/api/file/upload", token=alice.token, headers=headers, data=body
        )
        assert broken.status == 400 and broken.code == codes.BAD_REQUEST, broken.body
    assert await api.services.db.fetch_val("SELECT COUNT(*) FROM media_file") == 0
    missing = await api.request("GET", "/api/file/987654321/info", token=alice.token)
    assert missing.status == 404 and missing.code == codes.FILE_NOT_FOUND
    no_thumb = await api.uploaded(alice, pdf())
    assert no_thumb["thumbnailUrl"] is None and no_thumb["width"] is None


async def _chat_setup(api: MediaClient) -> tuple[User, User, User, dict[str, Any]]:
    alice, bob, carol = await api.user("alice"), await api.user("bob"), await api.user("carol")
    await api.befriend(alice, bob)
    photo = await api.uploaded(alice, jpeg_with_gps(), name="photo.jpg")
    return alice, bob, carol, photo


async def test_private_chat_media_is_for_the_two_users_only(media_node: MediaNodeFactory) -> None:
    api = await media_node()
    alice, bob, carol, photo = await _chat_setup(api)
    fid = photo["fileId"]
    before = await api.request("GET", f"/api/file/{fid}/info", token=bob.token)
    assert before.status == 403 and before.code == codes.FILE_FORBIDDEN  # not sent yet

    msg = await api.send_private(
        alice,
        bob,
        {
            "type": "image",
            "fileId": fid,
            "extra": {"url": "http://evil.example/x.png", "duration": 3},
        },
    )
    assert msg.extra["fileId"] == fid and "url" not in msg.extra  # stored without URLs
    assert msg.extra["mime"] == "image/jpeg" and msg.extra["duration"] == 3

    history = await api.request(
        "GET", f"/api/message/history?conversationId={msg.conversation_id}", token=bob.token
    )
    shown = history.data[-1]["extra"]
    assert shown["fileId"] == fid and shown["url"].startswith(api.base + f"/api/file/{fid}?exp=")
    assert shown["thumbnail"].startswith(api.base + f"/api/file/{fid}/thumbnail?exp=")
    assert (shown["width"], shown["height"], shown["name"]) == (48, 64, "photo.jpg")
    _assert_downloaded(api, await api.request("GET", shown["url"]))

    info = await api.request("GET", f"/api/file/{fid}/info", token=bob.token)
    assert info.status == 200 and info.data["fileId"] == fid
    by_token = await api.request("GET", f"/api/file/{fid}", token=bob.token)
    _assert_downloaded(api, by_token)

    for path in (f"/api/file/{fid}/info", f"/api/file/{fid}", f"/api/file/{fid}/thumbnail"):
        refused = await api.request("GET", path, token=carol.token)
        assert refused.status == 403 and refused.code == codes.FILE_FORBIDDEN, path
    listed = await api.request("GET", "/api/conversation/list", token=bob.token)
    last = listed.data["list"][0]["lastMessage"]
    assert last["extra"]["url"].startswith(api.base + f"/api/file/{fid}?exp=")


async def test_group_chat_media_is_for_current_members(media_node: MediaNodeFactory) -> None:
    api = await media_node()
    alice, bob, carol, photo = await _chat_setup(api)
    await api.befriend(alice, carol)
    group = await api.request(
        "POST",
        "/api/group",
        token=alice.token,
        json={"name": "trip", "memberIds": [bob.id, carol.id]},
    )
    gid = group.data["id"]
    await api.send_group(alice, gid, {"type": "image", "fileId": photo["fileId"]})
    path = f"/api/file/{photo['fileId']}/info"
    assert (await api.request("GET", path, token=carol.token)).status == 200
    kicked = await api.request("DELETE", f"/api/group/{gid}/member/{carol.id}", token=alice.token)
    assert kicked.status == 200
    assert (await api.request("GET", path, token=carol.token)).status == 403
    assert (await api.request("GET", path, token=bob.token)).status == 200


async def test_sending_a_file_needs_the_right_to_read_it(media_node: MediaNodeFactory) -> None:
    from stompim.im.errors import ImError

    api = await media_node()
    alice, bob, carol, photo = await _chat_setup(api)
    await api.befriend(bob, carol)
    with pytest.raises(ImError) as refused:  # bob never received alice's photo
        await api.send_private(bob, carol, {"type": "image", "fileId": photo["fileId"]})
    assert refused.value.code == codes.FILE_FORBIDDEN
    await api.send_private(alice, bob, {"type": "image", "fileId": photo["fileId"]})
    forwarded = await api.send_private(bob, carol, {"type": "image", "fileId": photo["fileId"]})
    assert forwarded.extra["fileId"] == photo["fileId"]  # received, so bob may forward it
    assert (
        await api.request("GET", f"/api/file/{photo['fileId']}/info", token=carol.token)
    ).status == 200

    document = await api.uploaded(alice, pdf())
    with pytest.raises(ImError) as wrong_kind:
        await api.send_private(alice, bob, {"type": "image", "fileId": document["fileId"]})
    assert wrong_kind.value.code == codes.BAD_REQUEST
    with pytest.raises(ImError) as missing:
        await api.send_private(alice, bob, {"type": "file", "fileId": 987654321})
    assert missing.value.code == codes.FILE_NOT_FOUND
    sent = await api.send_private(alice, bob, {"type": "file", "fileId": str(document["fileId"])})
    assert sent.extra["mime"] == "application/pdf"


async def test_recall_revokes_the_media_for_new_links(media_node: MediaNodeFactory) -> None:
    api = await media_node()
    alice, bob, _, photo = await _chat_setup(api)
    msg = await api.send_private(alice, bob, {"type": "image", "fileId": photo["fileId"]})
    path = f"/api/file/{photo['fileId']}/info"
    assert (await api.request("GET", path, token=bob.token)).status == 200
    recalled = await api.request("POST", f"/api/message/{msg.id}/recall", token=alice.token)
    assert recalled.status == 200 and recalled.data["extra"] is None
    assert (await api.request("GET", path, token=bob.token)).status == 403
    history = await api.request(
        "GET", f"/api/message/history?conversationId={msg.conversation_id}", token=bob.token
    )
    assert history.data[-1]["extra"] is None


async def test_avatars_by_file_id(media_node: MediaNodeFactory) -> None:
    api = await media_node()
    alice, bob = await api.user("alice"), await api.user("bob")
    face = await api.uploaded(alice, png(64, 64, (5, 6, 7)), name="me.png", purpose="avatar")
    assert face["expiresAt"] is None and "exp=" not in face["url"]
    updated = await api.request(
        "PUT",
        "/api/user/info",
        token=alice.token,
        json={"avatarFileId": face["fileId"], "nickname": "Alice"},
    )
    assert updated.status == 200, updated.body
    assert updated.data["avatar"] == face["url"] and updated.data["nickname"] == "Alice"
    seen = await api.request("GET", f"/api/user/info/{alice.id}", token=bob.token)
    _assert_downloaded(api, await api.request("GET", seen.data["avatar"]))  # no token needed
    assert (
        await api.request("GET", f"/api/file/{face['fileId']}/info", token=bob.token)
    ).status == 200

    chat_file = await api.uploaded(alice, png(10, 10), name="chat.png")
    lasting = (
        chat_file["url"].split("?")[0]
        + "?sig="
        + dict(parse_qsl(urlsplit(chat_file["url"]).query))["sig"]
    )
    assert (await api.request("GET", lasting)).status == 403  # a chat file has no lasting link
    refused = await api.request(
        "PUT", "/api/user/info", token=alice.token, json={"avatarFileId": chat_file["fileId"]}
    )
    assert refused.status == 400 and "purpose avatar" in refused.json["message"]
    theirs = await api.request(
        "PUT", "/api/user/info", token=bob.token, json={"avatarFileId": face["fileId"]}
    )
    assert theirs.status == 403 and theirs.code == codes.FILE_FORBIDDEN
    invalid = await api.request(
        "PUT",
        "/api/user/info",
        token=alice.token,
        json={"avatarFileId": face["fileId"], "gender": 7},
    )
    assert invalid.status == 400  # the update is refused as a whole

    group = await api.request("POST", "/api/group", token=alice.token, json={"name": "g"})
    logo = await api.uploaded(alice, png(32, 32), purpose="group-avatar")
    changed = await api.request(
        "PUT",
        f"/api/group/{group.data['id']}",
        token=alice.token,
        json={"avatarFileId": logo["fileId"]},
    )
    assert changed.status == 200 and changed.data["avatar"] == logo["url"]
    not_admin = await api.request(
        "PUT",
        f"/api/group/{group.data['id']}",
        token=bob.token,
        json={"avatarFileId": logo["fileId"]},
    )
    assert not_admin.status in (403, 404)


async def test_sweep_removes_unreferenced_files_and_their_content(
    media_node: MediaNodeFactory,
) -> None:
    api = await media_node(unreferenced_ttl_seconds=60)
    media = api.services.media
    alice, bob, _, photo = await _chat_setup(api)
    sent = await api.uploaded(alice, png(20, 20, (9, 9, 9)), name="sent.png")
    await api.send_private(alice, bob, {"type": "image", "fileId": sent["fileId"]})
    old_face = await api.uploaded(alice, png(30, 30, (1, 1, 1)), purpose="avatar")
    await api.request(
        "PUT", "/api/user/info", token=alice.token, json={"avatarFileId": old_face["fileId"]}
    )
    new_face = await api.uploaded(alice, png(31, 31, (2, 2, 2)), purpose="avatar")
    await api.request(
        "PUT", "/api/user/info", token=alice.token, json={"avatarFileId": new_face["fileId"]}
    )
    orphan_blob = await media.repo.blob_by_sha(photo["sha256"])
    assert orphan_blob is not None

    assert await media.sweep_once() == type(await media.sweep_once())(0, 0)  # all fresh
    now = media.clock()
    media.clock = lambda: now + 61_000
    report = await media.sweep_once()
    assert (report.files, report.blobs) == (2, 2)  # the unsent photo and the replaced avatar
    remaining = await api.services.db.fetch_all("SELECT id FROM media_file ORDER BY id")
    assert [r["id"] for r in remaining] == [sent["fileId"], new_face["fileId"]]
    assert not await media.blobs.exists(orphan_blob.storage_key)
    gone = await api.request("GET", photo["url"].split("?")[0], token=alice.token)
    assert gone.status == 404 and gone.code == codes.FILE_NOT_FOUND
    _assert_downloaded(
        api, await api.request("GET", f"/api/file/{sent['fileId']}", token=bob.token)
    )
    again = await api.uploaded(alice, jpeg_with_gps(), name="photo.jpg")  # content comes back
    _assert_downloaded(api, await api.request("GET", again["url"]))


async def test_uploads_in_progress_are_bounded_per_user_and_node(
    media_node: MediaNodeFactory,
) -> None:
    api = await media_node(max_concurrent_uploads=6)
    alice, bob = await api.user("alice"), await api.user("bob")
    media = api.services.media
    release = asyncio.Event()

    async def held_body() -> AsyncIterator[bytes]:
        yield pdf("held") + b"\x00" * 20_000
        await release.wait()
        yield b"\x00" * 1000

    async def until(count: int) -> None:  # the node holds `count` uploads open
        async with asyncio.timeout(10):
            while sum(media._uploading.values()) < count:  # noqa: ASYNC110 - state polled
                await asyncio.sleep(0.01)

    held = [asyncio.create_task(api.upload(alice, held_body(), name=f"{i}.pdf")) for i in range(4)]
    await until(4)
    fifth = await api.upload(alice, pdf("fifth"))
    assert fifth.status == 429 and fifth.code == codes.TOO_MANY_REQUESTS
    others = [asyncio.create_task(api.upload(bob, held_body(), name="b.pdf")) for _ in range(2)]
    await until(6)
    busy = await api.upload(bob, pdf("busy"))  # the node's six slots are taken
    assert busy.status == 429 and "busy" in busy.json["message"]
    release.set()
    replies = await asyncio.gather(*held, *others)
    assert [r.status for r in replies] == [200] * 6
    assert media._uploading == {}
    assert (await api.upload(alice, pdf("after"))).status == 200
    assert await _stored_blobs(api) == 2  # six concurrent uploads of one content: stored once
    root = getattr(media.blobs, "root", None)
    if root is not None:  # and no stray object of the uploads that lost the race
        objects = [p for p in root.rglob("*") if p.is_file() and ".spool" not in p.parts]
        assert len(objects) == 2


async def test_the_periodic_sweep_runs_by_itself(media_node: MediaNodeFactory) -> None:
    api = await media_node(sweep=True, sweep_interval_seconds=1, unreferenced_ttl_seconds=0)
    alice = await api.user("alice")
    data = await api.uploaded(alice, pdf("short-lived"))
    db = api.services.db
    async with asyncio.timeout(10):  # the sweep task wakes each second
        while await db.fetch_val("SELECT COUNT(*) FROM media_blob"):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    gone = await api.request("GET", f"/api/file/{data['fileId']}/info", token=alice.token)
    assert gone.status == 404
