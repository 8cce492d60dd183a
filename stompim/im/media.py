"""Media: uploads, who may read a file, signed links, avatars and the sweep of unused files.

Upload, in order (`MediaService.upload`):
  1. the purpose picks the size limit (`media.max_avatar_bytes` / `max_chat_bytes`),
     further cut to what is left of the owner's quota (`media.user_quota_bytes`);
  2. the body streams to a spool file (stompim.im.media_spool): SHA-256 on the fly,
     the type sniffed from the head (stompim.im.media_types) and the limit enforced
     while it arrives;
  3. content already stored (same SHA-256) is not stored again; otherwise images are
     re-encoded without metadata and thumbnailed in a worker thread
     (stompim.im.media_images) and the result is put into the BlobStore;
  4. one transaction records the upload as a file of its own (its own fileId, owner,
     purpose and name) on the shared blob, checking the quota again
     (stompim.store.media.MediaRepository.insert_upload).

Reading: `readable_file(user, fileId)` decides with `can_read`: the owner always;
avatars every signed-in user; chat files the members of a conversation a message
carrying the file was sent in (private: the two users; group: its current members),
asked of the chat domain's `require_access`. Links are signed for readers only
(stompim.im.media_links); a download with a link is checked by `linked_file`.

References (stompim.store.media): chat messages (stompim.im.media_chat), avatars
(`with_avatar`). A file nobody references `media.unreferenced_ttl_seconds` after
its upload or last use is removed by the sweep, and content no file uses any more
leaves the store.

Call order: `MediaService(...)`, `await start()` (store, spool folder, sweep task),
calls, `await close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TypeVar

from stompim.config import MediaConfig
from stompim.im.clock import Clock, now_ms
from stompim.im.errors import (
    BAD_IMAGE,
    BAD_REQUEST,
    FILE_FORBIDDEN,
    FILE_NOT_FOUND,
    FILE_TOO_LARGE,
    QUOTA_EXCEEDED,
    STORAGE_FAILED,
    TOO_MANY_REQUESTS,
    ImError,
)
from stompim.im.media_images import ImageRefused, ProcessedImage, process_image
from stompim.im.media_links import ORIGINAL, THUMBNAIL, MediaLinks, SignedLink
from stompim.im.media_spool import SPOOL_SUFFIX, Spooled, spool_upload
from stompim.im.media_types import IMAGE_TYPES, Purpose, classify, parse_purpose
from stompim.store.blobs import BlobStore, BlobStoreError, new_key, thumb_key
from stompim.store.database import Database
from stompim.store.media import (
    FileRecord,
    MediaRepository,
    NewBlob,
    QuotaExceeded,
    UploadNeedsBlob,
    group_subject,
    user_subject,
)

__all__ = ["MediaService", "SweepReport", "clean_name", "group_subject", "user_subject"]

log = logging.getLogger(__name__)

T = TypeVar("T")
NAME_MAX = 255
SWEEP_BATCH = 500
MAX_UPLOADS_PER_USER = 4
MAX_ACCESS_CHECKS = 20  # conversations tried per read check (a file forwarded that often)
_NAME_BAD = re.compile(r"[\x00-\x1f\x7f\"\\/]")


class ConversationAccess(Protocol):
    async def require_access(self, user_id: int, conversation_id: int) -> Any:
        """The conversation if the user takes part in it now; ImError otherwise."""
        ...


@dataclass(frozen=True)
class SweepReport:
    files: int
    blobs: int


def clean_name(name: str | None) -> str:
    """The last path segment of a client's file name, without control characters,
    quotes or slashes, at most NAME_MAX characters; "file" when nothing is left."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = _NAME_BAD.sub("", base).strip()
    return base[:NAME_MAX] if base.strip(".") else "file"


class MediaService:
    def __init__(
        self,
        config: MediaConfig,
        db: Database,
        blobs: BlobStore,
        links: MediaLinks,
        spool_dir: Path,
        *,
        clock: Clock = now_ms,
    ) -> None:
        self.config = config
        self.repo = MediaRepository(db)
        self.blobs = blobs
        self.links = links
        self.spool_dir = spool_dir
        self.clock = clock
        self.conversations: ConversationAccess | None = None  # set by build_services
        self._images = asyncio.Semaphore(config.image_workers)
        self._uploading: dict[int, int] = {}  # owner -> uploads in progress on this node
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifetime -------------------------------------------------------------------------

    async def start(self, *, sweep: bool = True) -> None:
        await self.blobs.start()
        await asyncio.to_thread(self._prepare_spool)
        if sweep:
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep_forever(), name="media-sweep"
            )

    def _prepare_spool(self) -> None:
        """Remove uploads a killed node left in the spool folder (over a day old)."""
        cutoff = time.time() - 86400
        for path in self.spool_dir.glob(f"*{SPOOL_SUFFIX}*"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()

    async def close(self) -> None:
        task, self._sweeper = self._sweeper, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.blobs.close()

    # -- upload ---------------------------------------------------------------------------

    def limit_for(self, purpose: Purpose) -> int:
        return self.config.max_avatar_bytes if purpose.is_avatar else self.config.max_chat_bytes

    async def upload(
        self,
        owner_id: int,
        purpose: str | Purpose | None,
        name: str | None,
        chunks: AsyncIterable[bytes],
    ) -> FileRecord:
        """Store one upload streamed as `chunks` (see the module docstring)."""
        kind = purpose if isinstance(purpose, Purpose) else parse_purpose(purpose)
        with self._upload_slot(owner_id):
            return await self._upload(owner_id, kind, name, chunks)

    @contextlib.contextmanager
    def _upload_slot(self, owner_id: int) -> Iterator[None]:
        """Bound what uploads in progress can take (buffers, spool disk): at most
        `media.max_concurrent_uploads` on this node and MAX_UPLOADS_PER_USER per user;
        more are refused at once (429), before any byte of them is read."""
        mine = self._uploading.get(owner_id, 0)
        if sum(self._uploading.values()) >= self.config.max_concurrent_uploads:
            raise ImError(TOO_MANY_REQUESTS, "the server is busy with uploads; retry shortly", 429)
        if mine >= MAX_UPLOADS_PER_USER:
            raise ImError(
                TOO_MANY_REQUESTS, f"at most {MAX_UPLOADS_PER_USER} uploads at a time", 429
            )
        self._uploading[owner_id] = mine + 1
        try:
            yield
        finally:
            left = self._uploading[owner_id] - 1
            if left:
                self._uploading[owner_id] = left
            else:
                del self._uploading[owner_id]

    async def _upload(
        self, owner_id: int, kind: Purpose, name: str | None, chunks: AsyncIterable[bytes]
    ) -> FileRecord:
        limit = self.limit_for(kind)
        room = self.config.user_quota_bytes - await self.repo.usage(owner_id)
        if room <= 0:
            raise _quota_error()

        def too_large() -> ImError:
            if room < limit:
                return _quota_error()
            return ImError(FILE_TOO_LARGE, f"a {kind} file may have at most {limit} bytes", 413)

        spooled = await spool_upload(
            chunks,
            self.spool_dir,
            limit=min(limit, room),
            too_large=too_large,
            check_head=lambda head: classify(head, kind),
        )
        try:
            return await self._store(owner_id, kind, clean_name(name), spooled)
        finally:
            await asyncio.to_thread(spooled.remove)

    async def _process(self, spooled: Spooled) -> ProcessedImage:
        async with self._images:
            try:
                return await asyncio.to_thread(
                    process_image,
                    spooled.path,
                    spooled.sibling(".served"),
                    spooled.sibling(".thumb"),
                    max_pixels=self.config.max_image_pixels,
                    thumb_size=self.config.thumbnail_size,
                )
            except ImageRefused as exc:
                raise ImError(BAD_IMAGE, exc.message, 413 if exc.too_large else 400) from None

    async def _put(self, spooled: Spooled) -> NewBlob:
        """Write the content (images: processed first) under a new key."""
        key = new_key(spooled.sha256)
        try:
            if spooled.content_type not in IMAGE_TYPES:
                await self.blobs.put_file(key, spooled.path, spooled.content_type)
                return NewBlob(spooled.sha256, key, spooled.size, spooled.content_type)
            image = await self._process(spooled)
            if image.content_type != spooled.content_type:
                raise ImError(BAD_IMAGE, "the image's content does not match its format", 400)
            size = (await asyncio.to_thread(image.served.stat)).st_size
            thumb_size = (await asyncio.to_thread(image.thumbnail.stat)).st_size
            await self.blobs.put_file(thumb_key(key), image.thumbnail, image.thumbnail_type)
            await self.blobs.put_file(key, image.served, image.content_type)
        except BlobStoreError as exc:
            log.error("storing an upload failed: %s", exc)
            await self._forget(key, thumbnail=True)
            raise ImError(STORAGE_FAILED, "the file could not be stored; try again", 503) from None
        return NewBlob(
            spooled.sha256,
            key,
            size,
            image.content_type,
            image.width,
            image.height,
            thumb_size,
            image.thumbnail_type,
        )

    async def _store(
        self, owner_id: int, purpose: Purpose, name: str, spooled: Spooled
    ) -> FileRecord:
        quota = self.config.user_quota_bytes
        for _ in range(3):
            candidate = None
            if await self.repo.blob_by_sha(spooled.sha256) is None:
                candidate = await self._put(spooled)
            try:
                record, created = await self.repo.insert_upload(
                    owner_id=owner_id,
                    purpose=purpose.value,
                    name=name,
                    sha256=spooled.sha256,
                    candidate=candidate,
                    quota=quota,
                    now=self.clock(),
                )
            except UploadNeedsBlob:  # the sweep took the content between look-up and insert
                continue
            except QuotaExceeded:
                if candidate is not None:  # its blob row, if it won, is left to the sweep
                    stored = await self.repo.blob_by_sha(spooled.sha256)
                    if stored is None or stored.storage_key != candidate.storage_key:
                        await self._forget(
                            candidate.storage_key, thumbnail=candidate.thumb_size > 0
                        )
                raise _quota_error() from None
            if candidate is not None and not created:  # a concurrent upload stored it first
                await self._forget(candidate.storage_key, thumbnail=candidate.thumb_size > 0)
            return record
        raise ImError(STORAGE_FAILED, "the file could not be stored; try again", 503)

    async def _forget(self, key: str, *, thumbnail: bool) -> None:
        for name in (key, thumb_key(key)) if thumbnail else (key,):
            try:
                await self.blobs.delete(name)
            except BlobStoreError as exc:
                log.warning("removing %s from the store failed: %s", name, exc)

    # -- reading --------------------------------------------------------------------------

    async def can_read(self, user_id: int, file: FileRecord) -> bool:
        if file.owner_id == user_id or Purpose(file.purpose).is_avatar:
            return True
        if self.conversations is None:
            return False
        refs = await self.repo.refs_of(file.id)
        conversations = sorted({r.conversation_id for r in refs if r.conversation_id is not None})
        for conversation_id in conversations[:MAX_ACCESS_CHECKS]:
            try:
                await self.conversations.require_access(user_id, conversation_id)
                return True
            except ImError:
                continue
        return False

    async def require_file(self, file_id: int) -> FileRecord:
        file = await self.repo.file(file_id)
        if file is None:
            raise ImError(FILE_NOT_FOUND, "file not found", 404)
        return file

    async def readable_file(self, user_id: int, file_id: int) -> FileRecord:
        """The file, if `user_id` may read it now: 6004 (404) or 6005 (403) otherwise."""
        file = await self.require_file(file_id)
        if not await self.can_read(user_id, file):
            raise ImError(FILE_FORBIDDEN, "you may not read this file", 403)
        return file

    async def linked_file(
        self, file_id: int, variant: str, query: Mapping[str, str]
    ) -> tuple[FileRecord, int | None]:
        """The file a signed link names, and the link's expiry (None: a lasting avatar link)."""
        exp = self.links.verify(file_id, variant, query, self.clock() // 1000)
        file = await self.require_file(file_id)
        if exp is None and not Purpose(file.purpose).is_avatar:
            raise ImError(FILE_FORBIDDEN, "the link is not valid for this file", 403)
        return file, exp

    def link(self, file: FileRecord, variant: str = ORIGINAL) -> SignedLink:
        if Purpose(file.purpose).is_avatar:
            return self.links.lasting_link(file.id, variant)
        return self.links.link(file.id, variant, self.clock() // 1000)

    def file_json(self, file: FileRecord) -> dict[str, Any]:
        """The upload answer and `GET /api/file/{id}/info`: facts and fresh links."""
        original = self.link(file)
        image = file.content_type in IMAGE_TYPES
        return {
            "fileId": file.id,
            "url": original.url,
            "name": file.name,
            "size": file.size,
            "contentType": file.content_type,
            "purpose": file.purpose,
            "sha256": file.sha256,
            "width": file.width if image else None,
            "height": file.height if image else None,
            "thumbnailUrl": self.link(file, THUMBNAIL).url if file.has_thumbnail else None,
            "expiresAt": None if original.expires_at is None else original.expires_at * 1000,
            "createdAt": file.created_at,
        }

    # -- avatars --------------------------------------------------------------------------

    async def with_avatar(
        self,
        user_id: int,
        changes: dict[str, Any],
        subject: str,
        apply: Callable[[dict[str, Any]], Awaitable[T]],
    ) -> T:
        """Apply a profile or group update whose `avatarFileId` names an uploaded image.

        The file must be the caller's own image; `avatar` becomes its lasting link,
        `apply(changes)` runs the update (it authorizes and validates), and only then
        does `subject` ('u:<id>' / 'g:<id>') reference the new file, releasing the old
        one to the sweep. Without `avatarFileId`, `apply(changes)` alone."""
        raw = changes.pop("avatarFileId", None)
        if raw is None:
            return await apply(changes)
        text = str(raw)
        if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not text.isdigit():
            raise ImError(BAD_REQUEST, "avatarFileId: must be a file id")
        if len(text) > 18:  # larger than any id a BIGINT column holds
            raise ImError(FILE_NOT_FOUND, "avatarFileId: file not found", 404)
        file = await self.require_file(int(text))
        if file.owner_id != user_id:
            raise ImError(FILE_FORBIDDEN, "avatarFileId: not a file you uploaded", 403)
        if file.content_type not in IMAGE_TYPES:
            raise ImError(BAD_REQUEST, "avatarFileId: the file is not an image")
        if not Purpose(file.purpose).is_avatar:
            raise ImError(BAD_REQUEST, "avatarFileId: upload the file with purpose avatar")
        now = self.clock()
        await self.repo.touch([file.id], now)
        changes["avatar"] = self.link(file).url
        result = await apply(changes)
        await self.repo.set_subject(subject, file.id, now)
        return result

    # -- the sweep ------------------------------------------------------------------------

    async def sweep_once(self) -> SweepReport:
        """Remove files unreferenced since the cutoff, then content no file uses."""
        cutoff = self.clock() - self.config.unreferenced_ttl_seconds * 1000
        files = 0
        for file_id in await self.repo.stale_files(cutoff, SWEEP_BATCH):
            files += await self.repo.delete_stale_file(file_id, cutoff)
        blobs = 0
        for blob in await self.repo.orphan_blobs(cutoff, SWEEP_BATCH):
            if await self.repo.delete_blob_if_orphan(blob.id):
                blobs += 1
                await self._forget(blob.storage_key, thumbnail=blob.thumb_size > 0)
        if files or blobs:
            log.info("media sweep removed %d files and %d stored objects", files, blobs)
        return SweepReport(files, blobs)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval_seconds)
            try:
                await self.sweep_once()
            except Exception:  # the database or the store is away: try again next time
                log.exception("media sweep failed")


def _quota_error() -> ImError:
    return ImError(
        QUOTA_EXCEEDED,
        "your storage quota is used up; files you no longer use are removed after a while",
        413,
    )
