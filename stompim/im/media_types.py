"""What an upload is, decided from its bytes: purposes, allowlists and content sniffing.

The client's Content-Type header and the file name are never trusted: `sniff()`
reads the first `SNIFF_BYTES` of the content with `filetype` (magic numbers of
about 80 formats) and falls back to "text/plain" only for valid UTF-8 text that is
not a script. `classify()` then applies the purpose's allowlist, so an executable
named `photo.png` is refused as what it is. Images are identified once more by
Pillow when they are processed (stompim.im.media_images), which must agree.

Pure functions; no I/O.
"""

from __future__ import annotations

import enum
import re

import filetype  # type: ignore[import-untyped]

from stompim.im.errors import BAD_REQUEST, FILE_TYPE_REFUSED, ImError

SNIFF_BYTES = 8192
"""Bytes of the content's head that sniffing looks at (filetype reads as many)."""


class Purpose(enum.StrEnum):
    """What an upload is for; it picks the size limit, the allowlist and who may read it."""

    AVATAR = "avatar"  #: a user's avatar; readable by every signed-in user
    GROUP_AVATAR = "group-avatar"  #: a group's avatar; readable by every signed-in user
    CHAT = "chat"  #: sent in chat messages; readable by the conversation's members

    @property
    def is_avatar(self) -> bool:
        return self is not Purpose.CHAT


IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
"""Images stompim re-encodes (metadata stripped) and makes thumbnails of."""

AUDIO_TYPES = frozenset(
    {
        "audio/aac",
        "audio/amr",
        "audio/mp4",
        "audio/mpeg",
        "audio/ogg",
        "audio/x-wav",
        "audio/x-flac",
    }
)
VIDEO_TYPES = frozenset(
    {
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "video/3gpp",
        "video/x-matroska",
        "video/mpeg",
        "video/x-m4v",
    }
)
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/rtf",
        "application/epub+zip",
        "text/plain",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    }
)
ARCHIVE_TYPES = frozenset(
    {
        "application/zip",
        "application/gzip",
        "application/x-7z-compressed",
        "application/x-rar-compressed",
        "application/x-tar",
        "application/x-bzip2",
        "application/x-xz",
    }
)

ALLOWED: dict[Purpose, frozenset[str]] = {
    Purpose.AVATAR: IMAGE_TYPES,
    Purpose.GROUP_AVATAR: IMAGE_TYPES,
    Purpose.CHAT: IMAGE_TYPES | AUDIO_TYPES | VIDEO_TYPES | DOCUMENT_TYPES | ARCHIVE_TYPES,
}

# Chat message types and the content each may carry ("file" takes anything allowed).
MESSAGE_KINDS: dict[str, frozenset[str]] = {
    "image": IMAGE_TYPES,
    "audio": AUDIO_TYPES | VIDEO_TYPES,  # voice notes come in video containers (webm, mp4)
    "video": VIDEO_TYPES,
}

INLINE_PREFIXES = ("image/", "audio/", "video/")
"""Types a browser may show in place; everything else is served as an attachment."""

_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def parse_purpose(value: str | None) -> Purpose:
    """The purpose named by a form field or query parameter (default: chat)."""
    if value is None or value == "":
        return Purpose.CHAT
    try:
        return Purpose(value.strip().lower())
    except ValueError:
        names = ", ".join(p.value for p in Purpose)
        raise ImError(BAD_REQUEST, f"purpose: must be one of {names}") from None


def _is_text(head: bytes) -> bool:
    """Valid UTF-8 (a character cut at the end of the head allowed) without control bytes."""
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return not _TEXT_CONTROL.search(text)
    return False


def sniff(head: bytes) -> str | None:
    """The MIME type the content's first bytes show, or None when they show nothing known.

    Scripts (`#!`) are reported as "application/x-executable": they are programs
    whatever their name says.
    """
    if head.startswith(b"#!"):
        return "application/x-executable"
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    if head and _is_text(head):
        return "text/plain"
    return None


def classify(head: bytes, purpose: Purpose) -> str:
    """The content type of an upload for `purpose`, or ImError 6001 naming what it is."""
    if not head:
        raise ImError(FILE_TYPE_REFUSED, "the file is empty", 415)
    found = sniff(head)
    if found is None:
        raise ImError(FILE_TYPE_REFUSED, "the file's content is of no accepted type", 415)
    if found not in ALLOWED[purpose]:
        if purpose.is_avatar:
            wanted = "a JPEG, PNG, GIF or WebP image"
        else:
            wanted = "an image, audio, video, document or archive"
        raise ImError(
            FILE_TYPE_REFUSED,
            f"the file's content is {found}; a {purpose} upload must be {wanted}",
            415,
        )
    return found


def fits_message(content_type: str, message_type: str) -> bool:
    """Whether a file of `content_type` may be sent as a chat message of `message_type`."""
    allowed = MESSAGE_KINDS.get(message_type)
    return allowed is None or content_type in allowed


def is_inline(content_type: str) -> bool:
    return content_type.startswith(INLINE_PREFIXES)
