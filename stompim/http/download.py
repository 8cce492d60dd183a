"""Serving a stored file over HTTP: ETag, Cache-Control, Range, Content-Disposition.

`file_response(request, file, variant, blobs, cache_control)` is called by the file
routes once the reader is checked (signed link or token). It answers
  * 304 when `If-None-Match` names the file's ETag (the content of a stored object
    never changes, so the ETag is a strong one: its SHA-256 and blob id);
  * 302 to the store's own presigned URL when the store serves downloads itself
    (S3 with `media.s3_redirect`), carrying the same headers;
  * else 200, or 206 for one satisfiable `Range: bytes=a-b` / `bytes=-n` (416 when
    it starts past the end; other forms are ignored and the whole file served, as
    RFC 9110 allows), streamed from the store chunk by chunk.
Every response says `X-Content-Type-Options: nosniff` and a sandboxing
Content-Security-Policy, and files that are not images, audio or video come as
attachments, so a stored file never runs as a page of this origin.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import quote

from aiohttp import web
from aiohttp.payload import AsyncIterablePayload

from stompim.http.result import error
from stompim.im.errors import BAD_REQUEST, FILE_NOT_FOUND, STORAGE_FAILED, ImError
from stompim.im.media_links import THUMBNAIL
from stompim.im.media_types import is_inline
from stompim.store.blobs import (
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    DownloadHeaders,
    thumb_key,
)
from stompim.store.media import FileRecord

REDIRECT_SECONDS = 600
"""Lifetime of the store's presigned URL behind a redirect."""

_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")
_SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; sandbox",
}


def content_disposition(name: str, *, inline: bool) -> str:
    """`inline` or `attachment`, with an ASCII fallback name and the UTF-8 one (RFC 6266)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%' else "_" for c in name)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def etag_of(file: FileRecord, variant: str) -> str:
    return f'"{file.sha256[:32]}-{file.blob_id}{"-t" if variant == THUMBNAIL else ""}"'


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag in tags or f"W/{etag}" in tags


class Unsatisfiable(Exception):
    """The range starts past the end of the file (416)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) asked for by a single-range header; None to serve everything.
    Raises Unsatisfiable for a range that starts past the end."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or not (match[1] or match[2]):
        return None
    if match[1]:
        start = int(match[1])
        end = min(int(match[2]) + 1, size) if match[2] else size
        if match[2] and int(match[2]) < start:
            return None
    else:
        start, end = max(0, size - int(match[2])), size
        if int(match[2]) == 0:
            start = size
    if start >= size:
        raise Unsatisfiable
    return start, end


async def file_response(
    request: web.Request, file: FileRecord, variant: str, blobs: BlobStore, cache_control: str
) -> web.StreamResponse:
    if variant == THUMBNAIL:
        key, size, content_type = thumb_key(file.storage_key), file.thumb_size, file.thumb_type
    else:
        key, size, content_type = file.storage_key, file.size, file.content_type
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    etag = etag_of(file, variant)
    headers = {"ETag": etag, "Cache-Control": cache_control, **_SECURITY}
    if _etag_matches(request.headers.get("If-None-Match", ""), etag):
        return web.Response(status=304, headers=headers)
    disposition = content_disposition(file.name, inline=is_inline(content_type))
    url = await blobs.download_url(
        key, REDIRECT_SECONDS, DownloadHeaders(content_type, disposition, cache_control)
    )
    if url is not None:
        return web.Response(
            status=302,
            headers={
                **_SECURITY,
                "Location": url,
                "Cache-Control": f"private, max-age={REDIRECT_SECONDS // 2}",
            },
        )
    if_range = request.headers.get("If-Range")
    try:
        span = (
            None
            if if_range and if_range != etag
            else byte_range(request.headers.get("Range"), size)
        )
    except Unsatisfiable:
        refusal = error(BAD_REQUEST, f"the range starts past the end ({size} bytes)", 416)
        refusal.headers["Content-Range"] = f"bytes */{size}"
        return refusal
    start, end = span if span is not None else (0, size)
    headers.update(
        {
            "Content-Type": content_type,
            "Content-Disposition": disposition,
            "Accept-Ranges": "bytes",
            "Content-Length": str(end - start),
        }
    )
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    body = AsyncIterablePayload(await _opened(blobs.read(key, start, end), end - start))
    return web.Response(status=206 if span is not None else 200, body=body, headers=headers)


async def _opened(stream: AsyncIterator[bytes], length: int) -> AsyncIterator[bytes]:
    """`stream` with its first chunk already read, so a missing object or a store that
    fails is answered with an error Result before any header of the file goes out."""
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        first = b""
    except BlobNotFound:
        raise ImError(FILE_NOT_FOUND, "the file's content is gone", 404) from None
    except BlobStoreError:
        raise ImError(STORAGE_FAILED, "the file store is not available; try again", 503) from None
    return _Body(first, stream, length)


class _Body:
    """The response body: the first chunk, then the rest of `stream`. The stream is
    closed as soon as `length` bytes went out, because aiohttp stops pulling at the
    Content-Length and would otherwise leave it (an S3 response) open."""

    def __init__(self, first: bytes, stream: AsyncIterator[bytes], length: int) -> None:
        self._first: bytes | None = first
        self._stream = stream
        self._left = length

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        if self._first is not None:
            chunk, self._first = self._first, None
        elif self._left <= 0:
            raise StopAsyncIteration
        else:
            try:
                chunk = await anext(self._stream)
            except StopAsyncIteration:
                self._left = 0
                raise
        self._left -= len(chunk)
        if self._left <= 0:
            await self._stream.aclose()  # type: ignore[attr-defined]
        if not chunk:
            raise StopAsyncIteration
        return chunk
