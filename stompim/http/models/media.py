"""Models of /api/file/*: the upload form, file facts, download links."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stompim.http.fields import Id, Int64, Text
from stompim.http.models.base import Body, Path, Query, View
from stompim.im.media_types import Purpose

PurposeName = Literal["avatar", "group-avatar", "chat"]
assert set(PurposeName.__args__) == {p.value for p in Purpose}  # type: ignore[attr-defined]


class UploadForm(Body):
    """Documents the multipart/form-data body; the handler streams it part by part."""

    purpose: PurposeName | None = Field(
        None, description="default chat; must come before the file part (or use ?purpose=)"
    )
    file: bytes = Field(description="the content; its type is sniffed from the bytes")


class UploadQuery(Query):
    purpose: Text | None = Field(None, description="avatar, group-avatar or chat (default)")


class FileIdPath(Path):
    file_id: Id


class LinkQuery(Query):
    exp: Text | None = Field(
        None, description="a signed link's expiry (unix seconds); absent on avatar links"
    )
    sig: Text | None = Field(
        None, description="a signed link's signature; without it a Bearer token is needed"
    )


class FileInfo(View):
    file_id: Int64
    url: Text = Field(description="signed download URL (expires at expiresAt; avatars never)")
    name: Text = Field(description="the client's file name, cleaned")
    size: Int64 = Field(description="bytes served (images: re-encoded without metadata)")
    content_type: Text = Field(description="sniffed from the content")
    purpose: PurposeName
    sha256: Text = Field(description="hex SHA-256 of the uploaded bytes")
    width: Int64 | None = Field(None, description="images only")
    height: Int64 | None = Field(None, description="images only")
    thumbnail_url: Text | None = Field(None, description="images only: signed thumbnail URL")
    expires_at: Int64 | None = Field(None, description="epoch ms when the URLs expire; null: never")
    created_at: Int64 = Field(description="epoch milliseconds")
