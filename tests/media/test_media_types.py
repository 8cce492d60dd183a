"""Sniffing and allowlists: the type comes from the bytes, never from the name."""

from __future__ import annotations

import pytest

from stompim.im.errors import BAD_REQUEST, FILE_TYPE_REFUSED, ImError
from stompim.im.media import clean_name
from stompim.im.media_types import Purpose, classify, fits_message, parse_purpose, sniff

from ._files import animated_gif, elf_executable, jpeg_with_gps, pdf, png, windows_executable


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (jpeg_with_gps(), "image/jpeg"),
        (png(), "image/png"),
        (animated_gif(), "image/gif"),
        (pdf(), "application/pdf"),
        ("plain text, ünïcödé\n".encode(), "text/plain"),
        (elf_executable(), "application/x-executable"),
        (windows_executable(), "application/x-msdownload"),
        (b"#!/bin/sh\nrm -rf /\n", "application/x-executable"),
        (bytes(range(256)) * 4, None),
    ],
)
def test_sniff_reads_the_bytes(content: bytes, expected: str | None) -> None:
    assert sniff(content[:8192]) == expected


def test_text_cut_inside_a_character_is_still_text() -> None:
    text = ("é" * 5000).encode()
    assert sniff(text[:8191]) == "text/plain"  # 8191 splits a two-byte character


@pytest.mark.parametrize(
    "content", [elf_executable(), windows_executable(), b"#!/usr/bin/env python\n"]
)
@pytest.mark.parametrize("purpose", list(Purpose))
def test_executables_are_refused_for_every_purpose(content: bytes, purpose: Purpose) -> None:
    with pytest.raises(ImError) as refused:
        classify(content, purpose)
    assert refused.value.code == FILE_TYPE_REFUSED and refused.value.status == 415
    assert "executable" in refused.value.message or "msdownload" in refused.value.message


def test_avatars_take_images_only() -> None:
    assert classify(png(), Purpose.AVATAR) == "image/png"
    with pytest.raises(ImError, match="must be a JPEG, PNG, GIF or WebP image"):
        classify(pdf(), Purpose.AVATAR)
    assert classify(pdf(), Purpose.CHAT) == "application/pdf"


def test_empty_and_unknown_content_is_refused() -> None:
    for content in (b"", bytes(range(256))):
        with pytest.raises(ImError) as refused:
            classify(content, Purpose.CHAT)
        assert refused.value.code == FILE_TYPE_REFUSED


def test_purpose_names() -> None:
    assert parse_purpose(None) is Purpose.CHAT
    assert parse_purpose("Group-Avatar") is Purpose.GROUP_AVATAR
    with pytest.raises(ImError) as refused:
        parse_purpose("wallpaper")
    assert (
        refused.value.code == BAD_REQUEST and "avatar, group-avatar, chat" in refused.value.message
    )


def test_message_types_take_fitting_files() -> None:
    assert fits_message("image/png", "image") and not fits_message("application/pdf", "image")
    assert fits_message("video/webm", "audio")  # browsers record voice into webm
    assert fits_message("application/pdf", "file") and fits_message("image/png", "file")
    assert not fits_message("image/png", "video")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ('a"b\x00c\nd.txt', "abcd.txt"),
        ("", "file"),
        (None, "file"),
        ("..", "file"),
        ("名前.png", "名前.png"),
        ("x" * 300, "x" * 255),
    ],
)
def test_clean_name(given: str | None, kept: str) -> None:
    assert clean_name(given) == kept
