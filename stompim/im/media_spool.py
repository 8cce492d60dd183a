"""Streaming an upload to a spool file: bounded memory, SHA-256 on the fly, limits as it comes.

Why a spool file on the node's disk rather than straight into the store: the
SHA-256 must be known before the content is stored (identical content is stored
once, so a duplicate is never uploaded to S3 at all), sniffing needs the head and
image processing needs the whole file. For the local store the spool lies on the
same file system and the finished file is renamed into place.

Memory: at most `FLUSH_BYTES` of the body are held at a time; writing and hashing
run in a worker thread (hashlib releases the GIL). The size limit is checked on
every chunk, so an oversized body is refused as soon as it passes the limit, and
the head (`SNIFF_BYTES`) is classified as soon as it has arrived, so a refused type
is refused before the rest is read. Any failure removes the spool file.

Call order: `spooled = await spool_upload(chunks, directory, limit=..., too_large=...,
check_head=...)`, use `spooled.path`, then `spooled.remove()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from stompim.im.errors import ImError
from stompim.im.media_types import SNIFF_BYTES

FLUSH_BYTES = 1024 * 1024
SPOOL_SUFFIX = ".upload"


@dataclass
class Spooled:
    path: Path
    size: int
    sha256: str
    content_type: str

    def sibling(self, suffix: str) -> Path:
        """A path beside the spool file for derived files (removed with it)."""
        return self.path.with_name(self.path.name + suffix)

    def remove(self) -> None:
        """Delete the spool file and its siblings (synchronous, small: call in a thread)."""
        for path in self.path.parent.glob(self.path.name + "*"):
            path.unlink(missing_ok=True)


def _create(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "xb")


def _write(handle: BinaryIO, hasher: hashlib._Hash, data: bytes) -> None:
    hasher.update(data)
    handle.write(data)


def _finish(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


async def spool_upload(
    chunks: AsyncIterable[bytes],
    directory: Path,
    *,
    limit: int,
    too_large: Callable[[], ImError],
    check_head: Callable[[bytes], str],
) -> Spooled:
    """Write `chunks` to a new file in `directory`; return its size, SHA-256 and the
    content type `check_head` gave for its first bytes. Raises `too_large()` once more
    than `limit` bytes arrived, or whatever `check_head` raises."""
    path = directory / f"{uuid.uuid4().hex}{SPOOL_SUFFIX}"
    handle = await asyncio.to_thread(_create, path)
    hasher = hashlib.sha256()
    pending = bytearray()
    size = 0
    content_type: str | None = None
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise too_large()
            pending += chunk
            if content_type is None and len(pending) >= SNIFF_BYTES:
                content_type = check_head(bytes(pending[:SNIFF_BYTES]))
            if len(pending) >= FLUSH_BYTES:
                data, pending = bytes(pending), bytearray()
                await asyncio.to_thread(_write, handle, hasher, data)
        if content_type is None:
            content_type = check_head(bytes(pending))
        if pending:
            await asyncio.to_thread(_write, handle, hasher, bytes(pending))
        await asyncio.to_thread(_finish, handle)
    except BaseException:
        await asyncio.to_thread(_discard, handle, path)
        raise
    return Spooled(path, size, hasher.hexdigest(), content_type)


def _discard(handle: BinaryIO, path: Path) -> None:
    handle.close()
    path.unlink(missing_ok=True)
