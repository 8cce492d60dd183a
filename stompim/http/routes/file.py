"""/api/file/*: upload (multipart, streamed), file facts with fresh links, downloads.

`POST /api/file/upload` reads the multipart body part by part: a `purpose` field
(or `?purpose=`) must come before the `file` part, whose bytes are streamed to
MediaService.upload as they arrive (never read whole). Other parts are skipped.

Downloads (`GET /api/file/{fileId}` and `/thumbnail`) are public routes that check
their own credentials: a signed link (`?exp=&sig=`, what `<img src>` uses) or an
`Authorization: Bearer` token of a user who may read the file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import unquote

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from stompim.http.api import ApiRoutes
from stompim.http.download import file_response
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.middlewares import bearer_token
from stompim.http.models.media import FileIdPath, FileInfo, LinkQuery, UploadForm, UploadQuery
from stompim.im.errors import BAD_REQUEST, FILE_NOT_FOUND, UNAUTHORIZED, ImError
from stompim.im.media_links import ORIGINAL, THUMBNAIL

FILE_PATH = "/api/file"
"""Where files are served: `<FILE_PATH>/<fileId>[/thumbnail]` (the links' base, app.py)."""
UPLOAD_CHUNK = 256 * 1024
UPLOAD_IDLE_SECONDS = 60
PURPOSE_MAX = 32

_BROKEN = (ValueError, AssertionError, ConnectionError, HttpProcessingError)
"""What aiohttp's multipart reader raises for a malformed or cut-off body."""

routes = ApiRoutes("file")


def bad(message: str) -> ImError:
    return ImError(BAD_REQUEST, message)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    """The file part's bytes as they arrive; a client that sends nothing for
    UPLOAD_IDLE_SECONDS loses its upload (it holds an upload slot)."""
    while True:
        try:
            async with asyncio.timeout(UPLOAD_IDLE_SECONDS):
                chunk = await part.read_chunk(UPLOAD_CHUNK)
        except TimeoutError:
            raise ImError(
                BAD_REQUEST, f"the upload stalled for {UPLOAD_IDLE_SECONDS} s", 408
            ) from None
        except _BROKEN:
            raise bad("the upload was cut off") from None
        if not chunk:
            if not part.at_eof():  # the body ended without the part's closing boundary
                raise bad("the upload was cut off")
            return
        yield chunk


@routes.post(
    "/api/file/upload",
    summary="Upload a file (multipart/form-data: purpose, then file); streamed, sniffed, "
    "stored once per content",
    form=UploadForm,
    response=FileInfo,
)
async def upload(request: web.Request, query: UploadQuery) -> object:
    if request.content_type != "multipart/form-data":
        raise bad("the body must be multipart/form-data with a file part")
    purpose = query.purpose
    try:
        reader = await request.multipart()
        return await _read_form(request, reader, purpose)
    except _BROKEN:  # no boundary, no starting boundary, a connection lost between parts
        raise bad("the body is not well-formed multipart/form-data") from None


async def _read_form(request: web.Request, reader: MultipartReader, purpose: str | None) -> object:
    media = request.app[SERVICES].media
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise bad("nested multipart bodies are not accepted")
        if part.name == "purpose":
            raw = await part.read_chunk()  # a chunk (8 KiB) at most, whatever is sent
            if len(raw) > PURPOSE_MAX or await part.read_chunk():
                raise bad("purpose: too long")
            purpose = raw.decode("utf-8", "replace")
        elif part.name == "file":
            # Browsers percent-encode '"', CR and LF in the name, some clients every
            # non-ASCII byte: decode, then MediaService cleans what is left.
            name = unquote(part.filename) if part.filename else None
            record = await media.upload(request[CLAIMS].user_id, purpose, name, _chunks(part))
            return media.file_json(record)
        else:
            await part.release()
    raise bad("file: a part named file is required")


@routes.get(
    "/api/file/{fileId}/info",
    summary="A file's facts with fresh signed URLs (for a user who may read it)",
    response=FileInfo,
)
async def info(request: web.Request, path: FileIdPath) -> object:
    media = request.app[SERVICES].media
    return media.file_json(await media.readable_file(request[CLAIMS].user_id, path.file_id))


async def _download(
    request: web.Request, file_id: int, link: LinkQuery, variant: str
) -> web.StreamResponse:
    services = request.app[SERVICES]
    media = services.media
    if link.sig is not None:
        given = {"sig": link.sig} if link.exp is None else {"sig": link.sig, "exp": link.exp}
        file, exp = await media.linked_file(file_id, variant, given)
        left = 86400 if exp is None else max(0, exp - media.clock() // 1000)
        cache = f"private, max-age={left}, immutable"
    else:
        token = bearer_token(request)
        if token is None:
            raise ImError(UNAUTHORIZED, "a signed link or a Bearer token is required", 401)
        claims = await services.accounts.authenticate_token(token)
        file = await media.readable_file(claims.user_id, file_id)
        cache = "private, no-cache"
    if variant == THUMBNAIL and not file.has_thumbnail:
        raise ImError(FILE_NOT_FOUND, "this file has no thumbnail", 404)
    return await file_response(request, file, variant, media.blobs, cache)


@routes.get(
    "/api/file/{fileId}",
    summary="Download a file (signed link or Bearer token); Range, ETag, Content-Disposition",
    public=True,
    raw="*/*",  # the type sniffed at upload: an image, audio, video, document, archive
)
async def download(request: web.Request, path: FileIdPath, query: LinkQuery) -> web.StreamResponse:
    return await _download(request, path.file_id, query, ORIGINAL)


@routes.get(
    "/api/file/{fileId}/thumbnail",
    summary="Download an image's thumbnail (signed link or Bearer token)",
    public=True,
    raw="*/*",  # the type sniffed at upload: an image, audio, video, document, archive
)
async def thumbnail(request: web.Request, path: FileIdPath, query: LinkQuery) -> web.StreamResponse:
    return await _download(request, path.file_id, query, THUMBNAIL)


def register_routes(app: web.Application) -> None:
    routes.register(app)
