"""Uploaded files: tables media_blob (content, stored once), media_file (one per upload,
the `fileId`) and media_ref (what uses a file), see schema version 2.

Why two tables: identical content is stored once (by SHA-256) but every upload is a
record of its own, with its own owner, purpose and name, counted in its owner's quota.

Races this module settles, with the sweep running on any node at any time:
  * upload vs sweep of the same content: `insert_upload` locks the blob row (MySQL
    `FOR UPDATE`; SQLite transactions are serialized) before adding the file, and
    `delete_blob_if_orphan` locks it and counts its files with a locking read; so a
    blob is deleted only if no file points at it, and an upload that finds its blob
    gone is told to store the content again (`UploadNeedsBlob`). The sweep takes only
    blobs older than its cutoff, so a blob just inserted for an upload is never taken
    before that upload's file row exists.
  * use vs sweep of a file: every use first moves `touched_at` (`touch`), and the
    sweep deletes only files untouched since its cutoff and without references.

Subjects of references: `message_subject(id)` ('m:<id>', with the conversation),
`user_subject(id)` ('u:<id>', an avatar), `group_subject(id)` ('g:<id>').
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stompim.store.database import Database, Tx

_FILE_COLS = (
    "f.id, f.blob_id, f.owner_id, f.purpose, f.name, f.created_at, f.touched_at,"
    " b.sha256, b.storage_key, b.size, b.content_type, b.width, b.height,"
    " b.thumb_size, b.thumb_type"
)
_BLOB_COLS = (
    "id, sha256, storage_key, size, content_type, width, height, thumb_size, thumb_type, created_at"
)


class QuotaExceeded(Exception):
    """The owner's files would take more than the quota; `used` bytes are taken now."""

    def __init__(self, used: int) -> None:
        super().__init__(f"quota exceeded ({used} bytes used)")
        self.used = used


class UploadNeedsBlob(Exception):
    """No stored content with this SHA-256 (any more): store it, then try again."""


@dataclass(frozen=True)
class BlobRecord:
    id: int
    sha256: str
    storage_key: str
    size: int
    content_type: str
    width: int
    height: int
    thumb_size: int
    thumb_type: str
    created_at: int


@dataclass(frozen=True)
class NewBlob:
    """Content just written to the store under `storage_key`, not yet recorded."""

    sha256: str
    storage_key: str
    size: int
    content_type: str
    width: int = 0
    height: int = 0
    thumb_size: int = 0
    thumb_type: str = ""


@dataclass(frozen=True)
class FileRecord:
    """One upload with its content's facts (media_file joined with media_blob)."""

    id: int
    blob_id: int
    owner_id: int
    purpose: str
    name: str
    created_at: int
    touched_at: int
    sha256: str
    storage_key: str
    size: int
    content_type: str
    width: int
    height: int
    thumb_size: int
    thumb_type: str

    @property
    def has_thumbnail(self) -> bool:
        return self.thumb_size > 0


@dataclass(frozen=True)
class RefRecord:
    file_id: int
    subject: str
    conversation_id: int | None


def message_subject(message_id: int) -> str:
    return f"m:{message_id}"


def user_subject(user_id: int) -> str:
    return f"u:{user_id}"


def group_subject(group_id: int) -> str:
    return f"g:{group_id}"


def _file(row: dict[str, Any]) -> FileRecord:
    return FileRecord(
        id=int(row["id"]),
        blob_id=int(row["blob_id"]),
        owner_id=int(row["owner_id"]),
        purpose=str(row["purpose"]),
        name=str(row["name"]),
        created_at=int(row["created_at"]),
        touched_at=int(row["touched_at"]),
        sha256=str(row["sha256"]),
        storage_key=str(row["storage_key"]),
        size=int(row["size"]),
        content_type=str(row["content_type"]),
        width=int(row["width"]),
        height=int(row["height"]),
        thumb_size=int(row["thumb_size"]),
        thumb_type=str(row["thumb_type"]),
    )


def _blob(row: dict[str, Any]) -> BlobRecord:
    return BlobRecord(
        id=int(row["id"]),
        sha256=str(row["sha256"]),
        storage_key=str(row["storage_key"]),
        size=int(row["size"]),
        content_type=str(row["content_type"]),
        width=int(row["width"]),
        height=int(row["height"]),
        thumb_size=int(row["thumb_size"]),
        thumb_type=str(row["thumb_type"]),
        created_at=int(row["created_at"]),
    )


class MediaRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _ignore(self) -> str:
        return "INSERT IGNORE" if self._db.dialect == "mysql" else "INSERT OR IGNORE"

    def _for_update(self) -> str:
        return " FOR UPDATE" if self._db.dialect == "mysql" else ""

    # -- blobs and uploads ----------------------------------------------------------------

    async def blob_by_sha(self, sha256: str) -> BlobRecord | None:
        row = await self._db.fetch_one(
            f"SELECT {_BLOB_COLS} FROM media_blob WHERE sha256 = ?", (sha256,)
        )
        return _blob(row) if row else None

    async def insert_upload(
        self,
        *,
        owner_id: int,
        purpose: str,
        name: str,
        sha256: str,
        candidate: NewBlob | None,
        quota: int,
        now: int,
    ) -> tuple[FileRecord, bool]:
        """Record one upload of content `sha256`. A `candidate` blob is inserted first
        unless the content is stored already (its own statement: a row without files is
        safe, the sweep leaves blobs alone until they are older than its cutoff); then,
        in one transaction, the blob row is locked, the owner's usage checked against
        `quota` and the file row added. Returns (the file, whether `candidate` became the
        stored blob). Raises UploadNeedsBlob when no blob row exists and `candidate` is
        None, QuotaExceeded when the file would not fit (a candidate's row then stays
        for the sweep).

        Why not insert inside the transaction: on MySQL, two uploads of the same new
        content would each lock the gap with `SELECT ... FOR UPDATE` and then both
        insert into it, a deadlock; an `INSERT IGNORE` on its own only waits."""
        if candidate is not None:
            await self._insert_blob(self._db, candidate, now)
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                f"SELECT {_BLOB_COLS} FROM media_blob WHERE sha256 = ?{self._for_update()}",
                (sha256,),
            )
            if row is None:
                raise UploadNeedsBlob(sha256)
            blob = _blob(row)
            used = await self._usage(tx, owner_id)
            if used + blob.size + blob.thumb_size > quota:
                raise QuotaExceeded(used)
            result = await tx.execute(
                "INSERT INTO media_file (blob_id, owner_id, purpose, name, created_at, touched_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (blob.id, owner_id, purpose, name, now, now),
            )
            assert result.lastrowid is not None
            file_row = await tx.fetch_one(
                f"SELECT {_FILE_COLS} FROM media_file f JOIN media_blob b ON b.id = f.blob_id"
                " WHERE f.id = ?",
                (result.lastrowid,),
            )
        assert file_row is not None
        created = candidate is not None and blob.storage_key == candidate.storage_key
        return _file(file_row), created

    async def _insert_blob(self, q: Tx, blob: NewBlob, now: int) -> None:
        await q.execute(
            f"{self._ignore()} INTO media_blob (sha256, storage_key, size, content_type, width,"
            " height, thumb_size, thumb_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                blob.sha256,
                blob.storage_key,
                blob.size,
                blob.content_type,
                blob.width,
                blob.height,
                blob.thumb_size,
                blob.thumb_type,
                now,
            ),
        )

    @staticmethod
    async def _usage(q: Tx, owner_id: int) -> int:
        used = await q.fetch_val(
            "SELECT COALESCE(SUM(b.size + b.thumb_size), 0) FROM media_file f"
            " JOIN media_blob b ON b.id = f.blob_id WHERE f.owner_id = ?",
            (owner_id,),
        )
        return int(used or 0)

    async def usage(self, owner_id: int) -> int:
        """Bytes the owner's files take (served form and thumbnail, per upload)."""
        return await self._usage(self._db, owner_id)

    async def file(self, file_id: int) -> FileRecord | None:
        row = await self._db.fetch_one(
            f"SELECT {_FILE_COLS} FROM media_file f JOIN media_blob b ON b.id = f.blob_id"
            " WHERE f.id = ?",
            (file_id,),
        )
        return _file(row) if row else None

    async def files(self, file_ids: Iterable[int]) -> dict[int, FileRecord]:
        ids = sorted(set(file_ids))
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = await self._db.fetch_all(
            f"SELECT {_FILE_COLS} FROM media_file f JOIN media_blob b ON b.id = f.blob_id"
            f" WHERE f.id IN ({marks})",
            ids,
        )
        return {int(r["id"]): _file(r) for r in rows}

    async def touch(self, file_ids: Iterable[int], now: int) -> None:
        """Mark files as just used, so a sweep does not take them before their references land."""
        ids = sorted(set(file_ids))
        if ids:
            marks = ", ".join("?" for _ in ids)
            await self._db.execute(
                f"UPDATE media_file SET touched_at = ? WHERE id IN ({marks})", (now, *ids)
            )

    # -- references -------------------------------------------------------------------------

    async def add_refs(self, refs: Sequence[RefRecord], now: int) -> None:
        """Record uses (a repeated one is no error)."""
        if refs:
            await self._db.executemany(
                f"{self._ignore()} INTO media_ref (file_id, subject, conversation_id, created_at)"
                " VALUES (?, ?, ?, ?)",
                [(r.file_id, r.subject, r.conversation_id, now) for r in refs],
            )

    async def set_subject(self, subject: str, file_id: int, now: int) -> None:
        """Make `file_id` the one file `subject` uses (an avatar replaced)."""
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM media_ref WHERE subject = ?", (subject,))
            await tx.execute(
                "INSERT INTO media_ref (file_id, subject, conversation_id, created_at)"
                " VALUES (?, ?, NULL, ?)",
                (file_id, subject, now),
            )

    async def remove_subject(self, subject: str) -> int:
        result = await self._db.execute("DELETE FROM media_ref WHERE subject = ?", (subject,))
        return result.rowcount

    async def refs_of(self, file_id: int) -> list[RefRecord]:
        rows = await self._db.fetch_all(
            "SELECT file_id, subject, conversation_id FROM media_ref WHERE file_id = ?"
            " ORDER BY subject",
            (file_id,),
        )
        return [
            RefRecord(
                int(r["file_id"]),
                str(r["subject"]),
                None if r["conversation_id"] is None else int(r["conversation_id"]),
            )
            for r in rows
        ]

    # -- the sweep --------------------------------------------------------------------------

    async def stale_files(self, cutoff: int, limit: int) -> list[int]:
        """Ids of files untouched since `cutoff` that nothing references."""
        rows = await self._db.fetch_all(
            "SELECT f.id FROM media_file f WHERE f.touched_at < ? AND NOT EXISTS"
            " (SELECT 1 FROM media_ref r WHERE r.file_id = f.id) ORDER BY f.id LIMIT ?",
            (cutoff, limit),
        )
        return [int(r["id"]) for r in rows]

    async def delete_stale_file(self, file_id: int, cutoff: int) -> bool:
        """Delete the file if it is still untouched since `cutoff` and unreferenced."""
        result = await self._db.execute(
            "DELETE FROM media_file WHERE id = ? AND touched_at < ? AND NOT EXISTS"
            " (SELECT 1 FROM media_ref r WHERE r.file_id = media_file.id)",
            (file_id, cutoff),
        )
        return result.rowcount > 0

    async def orphan_blobs(self, cutoff: int, limit: int) -> list[BlobRecord]:
        """Blobs made before `cutoff` that no file uses (a younger one may be an upload
        about to add its file)."""
        rows = await self._db.fetch_all(
            f"SELECT {_BLOB_COLS} FROM media_blob b WHERE b.created_at < ? AND NOT EXISTS"
            " (SELECT 1 FROM media_file f WHERE f.blob_id = b.id) ORDER BY b.id LIMIT ?",
            (cutoff, limit),
        )
        return [_blob(r) for r in rows]

    async def delete_blob_if_orphan(self, blob_id: int) -> bool:
        """Delete the blob row if no file points at it (checked under the row's lock)."""
        share = " LOCK IN SHARE MODE" if self._db.dialect == "mysql" else ""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                f"SELECT id FROM media_blob WHERE id = ?{self._for_update()}", (blob_id,)
            )
            if row is None:
                return False
            users = await tx.fetch_val(
                f"SELECT COUNT(*) FROM media_file WHERE blob_id = ?{share}", (blob_id,)
            )
            if int(users or 0) > 0:
                return False
            await tx.execute("DELETE FROM media_blob WHERE id = ?", (blob_id,))
            return True
