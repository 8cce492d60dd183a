"""Spooling an upload: SHA-256 on the fly, limits and type checks while it streams."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stompim.im.errors import FILE_TOO_LARGE, FILE_TYPE_REFUSED, ImError
from stompim.im.media_spool import spool_upload
from stompim.im.media_types import Purpose, classify

from ._files import elf_executable, pdf


class Source:
    """Chunks of a body, counting how many were pulled."""

    def __init__(self, head: bytes, chunk: int, total: int) -> None:
        self.head, self.chunk, self.total = head, chunk, total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        data = self.head
        while sent < self.total:
            piece = data[: self.chunk] or b"\x00" * min(self.chunk, self.total - sent)
            data = data[len(piece) :]
            piece = piece[: self.total - sent]
            self.pulled += 1
            sent += len(piece)
            yield piece


def _left(directory: Path) -> list[Path]:
    return list(directory.iterdir())


def _too_large() -> ImError:
    return ImError(FILE_TOO_LARGE, "too large", 413)


async def _spool(source: Source, tmp_path: Path, limit: int):  # type: ignore[no-untyped-def]
    return await spool_upload(
        source.__aiter__(),
        tmp_path,
        limit=limit,
        too_large=_too_large,
        check_head=lambda head: classify(head, Purpose.CHAT),
    )


async def test_spooled_file_has_the_bytes_and_their_sha256(tmp_path: Path) -> None:
    body = pdf() + b"x" * 3_000_000
    source = Source(body, 65536, len(body))
    spooled = await _spool(source, tmp_path, limit=10**7)
    assert spooled.path.read_bytes() == body
    assert spooled.sha256 == hashlib.sha256(body).hexdigest()
    assert spooled.size == len(body) and spooled.content_type == "application/pdf"
    spooled.remove()
    assert not _left(tmp_path)


async def test_over_the_limit_stops_reading_at_the_limit(tmp_path: Path) -> None:
    source = Source(pdf(), 65536, 1 << 30)  # a gigabyte on offer
    with pytest.raises(ImError) as refused:
        await _spool(source, tmp_path, limit=1 << 20)
    assert refused.value.code == FILE_TOO_LARGE
    assert source.pulled == (1 << 20) // 65536 + 1  # one chunk past the limit, no more
    assert not _left(tmp_path)  # the spool file is gone


async def test_a_refused_type_is_refused_from_its_head(tmp_path: Path) -> None:
    source = Source(elf_executable(), 4096, 50 << 20)
    with pytest.raises(ImError) as refused:
        await _spool(source, tmp_path, limit=1 << 30)
    assert refused.value.code == FILE_TYPE_REFUSED
    assert source.pulled == 2  # 8 KiB is enough to know
    assert not _left(tmp_path)


async def test_small_files_are_classified_at_the_end(tmp_path: Path) -> None:
    source = Source(b"short text", 4, 10)
    spooled = await _spool(source, tmp_path, limit=100)
    assert spooled.content_type == "text/plain" and spooled.size == 10
