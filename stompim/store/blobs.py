"""Where uploaded bytes live: one `BlobStore` interface, two backends.

* `LocalBlobStore` (stompim.store.blobs_local): a folder on the node's disk, the
  embedded default.
* `S3BlobStore` (stompim.store.blobs_s3): an S3-compatible object store (MinIO,
  AWS S3, ...) through aiobotocore, the maintained asyncio client of botocore.

A store knows keys and bytes only: which file a key belongs to, who may read it
and how its name is shown are stompim.store.media's and stompim.im.media's business.
Keys are made by `new_key()` and never reused, so deleting an old object cannot
race with writing a new one under the same name.

Call order: a backend is made (stompim.im.services.blob_store), `await store.start()`,
then `put_file` / `read` / `download_url` / `delete`, then `await store.close()`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

READ_CHUNK = 256 * 1024
"""Bytes handed out per step when a blob is streamed to a client."""

_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{64}-[0-9a-f]{12}(\.thumb)?")


class BlobNotFound(Exception):
    """The key names no stored object (deleted, or never written)."""


class BlobStoreError(Exception):
    """The store could not be reached or refused the operation; the message says why."""


@dataclass(frozen=True)
class DownloadHeaders:
    """What a client must see on the object's response when the store serves it itself."""

    content_type: str
    disposition: str
    cache_control: str


def new_key(sha256: str) -> str:
    """A fresh key for content with this SHA-256 (hex): `ab/abcd...-<12 hex>`."""
    return f"{sha256[:2]}/{sha256}-{uuid.uuid4().hex[:12]}"


def thumb_key(key: str) -> str:
    return f"{key}.thumb"


def check_key(key: str) -> str:
    """Refuse anything `new_key`/`thumb_key` cannot have made (no path tricks reach a store)."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a blob key: {key!r}")
    return key


class BlobStore(Protocol):
    """Bytes by key. Every method may raise BlobStoreError when the backend fails."""

    kind: str  # "local" or "s3"

    async def start(self) -> None:
        """Open clients, create folders or the bucket; before any other call."""
        ...

    async def close(self) -> None: ...

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Store the whole file at `path` under `key`, streamed (never read whole into
        memory). The store may move the file away; the caller removes `path` if it is
        still there afterwards."""
        ...

    def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes [start, end) of the object in chunks; BlobNotFound if it is gone."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing one is no error."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def download_url(self, key: str, expires_in: int, headers: DownloadHeaders) -> str | None:
        """A URL at which the store itself serves the object for `expires_in` seconds
        with `headers`, or None when the node must serve the bytes (local disk)."""
        ...


def default_media_dir(database_url: str) -> Path:
    """A folder beside the SQLite file (`./stompim.db` -> `./stompim-media`), else
    `./stompim-media` (MySQL, or SQLite in memory)."""
    prefix = "sqlite:///"
    if database_url.startswith(prefix):
        path = database_url[len(prefix) :]
        if path and path != ":memory:":
            db_file = Path(path)
            return db_file.with_name(f"{db_file.stem}-media")
    return Path("stompim-media")
