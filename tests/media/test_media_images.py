"""Image processing: metadata gone from what is served, orientation kept, thumbnails,
decompression bombs and oversized images refused before decoding."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from stompim.im.media_images import ImageRefused, pixel_limit, process_image

from ._files import (
    GPS_IFD,
    SECRET_COMMENT,
    SECRET_MAKER,
    animated_gif,
    jpeg_with_gps,
    pdf,
    png,
    png_bomb,
)


def _process(tmp_path: Path, content: bytes, *, max_pixels: int = 40_000_000, thumb: int = 32):
    source = tmp_path / "in"
    source.write_bytes(content)
    return process_image(
        source, tmp_path / "served", tmp_path / "thumb", max_pixels=max_pixels, thumb_size=thumb
    )


def test_jpeg_served_without_exif_gps_or_comment_and_upright(tmp_path: Path) -> None:
    original = jpeg_with_gps(64, 48, orientation=6)
    assert SECRET_MAKER.encode() in original and SECRET_COMMENT in original
    result = _process(tmp_path, original)
    served = result.served.read_bytes()
    assert SECRET_MAKER.encode() not in served and SECRET_COMMENT not in served
    assert b"Exif" not in served
    with Image.open(result.served) as image:
        assert image.format == "JPEG"
        assert GPS_IFD not in image.getexif() and not image.getexif()
        # orientation 6 = rotate 90 degrees clockwise: the pixels now stand upright
        assert image.size == (48, 64) == (result.width, result.height)
    assert result.content_type == "image/jpeg"


def test_thumbnail_fits_the_box_and_keeps_the_aspect(tmp_path: Path) -> None:
    result = _process(tmp_path, png(400, 100), thumb=64)
    with Image.open(result.thumbnail) as thumb:
        assert thumb.size == (64, 16)
    assert result.thumbnail_type == "image/jpeg"
    assert (result.width, result.height) == (400, 100)


def test_transparent_images_get_png_thumbnails(tmp_path: Path) -> None:
    import io

    out = io.BytesIO()
    Image.new("RGBA", (50, 50), (1, 2, 3, 0)).save(out, "PNG")
    result = _process(tmp_path, out.getvalue())
    assert result.thumbnail_type == "image/png"


def test_animated_gif_keeps_its_frames_and_loses_its_comment(tmp_path: Path) -> None:
    original = animated_gif(frames=3)
    assert SECRET_COMMENT in original
    result = _process(tmp_path, original)
    served = result.served.read_bytes()
    assert SECRET_COMMENT not in served
    with Image.open(result.served) as image:
        assert image.format == "GIF" and image.n_frames == 3


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    bomb = png_bomb(30000, 30000)  # 900 megapixels in ~110 KB
    assert len(bomb) < 200_000
    with pytest.raises(ImageRefused) as refused:
        _process(tmp_path, bomb)
    assert refused.value.too_large
    assert not (tmp_path / "served").exists()


def test_own_pixel_limit_applies_below_pillows(tmp_path: Path) -> None:
    with pytest.raises(ImageRefused, match="2000x2000 pixels") as refused:
        _process(tmp_path, png(2000, 2000), max_pixels=1_000_000)
    assert refused.value.too_large
    assert pixel_limit(10**12) == Image.MAX_IMAGE_PIXELS  # Pillow's threshold is an error too


@pytest.mark.parametrize("content", [pdf(), png()[:60], b"\x89PNG\r\n\x1a\n" + b"\x00" * 64])
def test_unreadable_images_are_refused(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(ImageRefused) as refused:
        _process(tmp_path, content)
    assert not refused.value.too_large
