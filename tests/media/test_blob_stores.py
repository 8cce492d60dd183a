"""The BlobStore contract, on local disk and on a real S3-compatible server (moto),
through the same code a node runs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from stompim.config import MediaConfig
from stompim.im.services import blob_store
from stompim.store.blobs import (
    BlobNotFound,
    BlobStore,
    DownloadHeaders,
    check_key,
    default_media_dir,
    new_key,
    thumb_key,
)
from stompim.store.blobs_s3 import PART_BYTES


@pytest.fixture
async def store(media_section: dict[str, Any], tmp_path: Path) -> AsyncIterator[BlobStore]:
    config = MediaConfig(**media_section)
    blobs = blob_store(config, Path(config.local_dir or tmp_path))
    await blobs.start()
    try:
        yield blobs
    finally:
        await blobs.close()


async def _read(store: BlobStore, key: str, start: int, end: int) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, start, end)])


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"spool-{hashlib.sha256(data).hexdigest()[:8]}"
    path.write_bytes(data)
    return path


async def test_put_read_ranges_delete(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    key = new_key(hashlib.sha256(data).hexdigest())
    assert not await store.exists(key)
    await store.put_file(key, _file(tmp_path, data), "application/octet-stream")
    assert await store.exists(key)
    assert await _read(store, key, 0, len(data)) == data
    assert await _read(store, key, 1000, 1010) == data[1000:1010]
    assert await _read(store, key, len(data) - 5, len(data)) == data[-5:]
    await store.delete(key)
    assert not await store.exists(key)
    with pytest.raises(BlobNotFound):
        await _read(store, key, 0, 10)
    await store.delete(key)  # deleting twice is no error


async def test_large_files_stream_in_parts(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(PART_BYTES * 2 + 12345)  # a multipart upload on S3
    key = new_key(hashlib.sha256(data).hexdigest())
    await store.put_file(key, _file(tmp_path, data), "video/mp4")
    read = await _read(store, key, 0, len(data))
    assert hashlib.sha256(read).digest() == hashlib.sha256(data).digest()
    assert (
        await _read(store, key, PART_BYTES - 3, PART_BYTES + 3)
        == data[PART_BYTES - 3 : PART_BYTES + 3]
    )


async def test_download_url_is_the_stores_own_on_s3(store: BlobStore, tmp_path: Path) -> None:
    data = b"hello from the store"
    key = thumb_key(new_key(hashlib.sha256(data).hexdigest()))
    await store.put_file(key, _file(tmp_path, data), "text/plain")
    headers = DownloadHeaders(
        "text/plain; charset=utf-8", 'attachment; filename="a.txt"', "private, max-age=60"
    )
    url = await store.download_url(key, 60, headers)
    if store.kind == "local":
        assert url is None  # the node serves local files itself
        return
    assert url is not None and url.startswith("http://127.0.0.1:")
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert await response.read() == data
        assert response.headers["Content-Disposition"] == 'attachment; filename="a.txt"'
        assert response.headers["Cache-Control"] == "private, max-age=60"
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url  # SigV4, as MinIO and AWS want


def test_keys_cannot_escape() -> None:
    key = new_key("ab" * 32)
    assert check_key(key) == key and check_key(thumb_key(key)) == thumb_key(key)
    for bad in ("../etc/passwd", "ab/../../x", "/abs", key + "/..", ""):
        with pytest.raises(ValueError):
            check_key(bad)


def test_default_folder_lies_beside_the_sqlite_file() -> None:
    assert default_media_dir("sqlite:///./stompim.db") == Path("./stompim-media")
    assert default_media_dir("sqlite:////var/lib/im/chat.db") == Path("/var/lib/im/chat-media")
    assert default_media_dir("mysql://root@127.0.0.1/im") == Path("stompim-media")
    assert default_media_dir("sqlite:///:memory:") == Path("stompim-media")
