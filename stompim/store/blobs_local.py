"""BlobStore on the node's own disk (the embedded default).

Objects are files under `<root>/<key>` (keys look like `ab/abcd...-<12 hex>`, see
stompim.store.blobs). `put_file` moves the finished upload into place with one
atomic rename when the spool folder is on the same file system, so a reader
never sees half an object. Every disk call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from stompim.store.blobs import READ_CHUNK, BlobNotFound, DownloadHeaders, check_key


class LocalBlobStore:
    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    async def start(self) -> None:
        return None  # folders are made by the first upload, so idle nodes leave no trace

    async def close(self) -> None:
        return None

    def path_of(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        await asyncio.to_thread(self._put, self.path_of(key), path)

    @staticmethod
    def _put(target: Path, source: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except OSError:  # another file system: copy beside the target, then rename
            partial = target.with_name(target.name + ".part")
            shutil.copyfile(source, partial)
            os.replace(partial, target)

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        # Each chunk opens, reads and closes the file in one worker-thread call: no file
        # stays open between chunks, so a reader that stops early (a client gone, or the
        # server done at Content-Length) leaves nothing to close.
        path = self.path_of(key)
        offset = start
        while offset < end:
            try:
                chunk = await asyncio.to_thread(
                    _read_at, path, offset, min(READ_CHUNK, end - offset)
                )
            except FileNotFoundError:
                raise BlobNotFound(key) from None
            if not chunk:
                break
            offset += len(chunk)
            yield chunk

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_of(key).unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_of(key).is_file)

    async def download_url(self, key: str, expires_in: int, headers: DownloadHeaders) -> str | None:
        return None


def _read_at(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)
