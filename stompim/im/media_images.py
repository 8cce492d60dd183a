"""Images: identify, bound, re-encode without metadata, and thumbnail, with Pillow.

`process_image()` is synchronous and slow (it decodes the whole image): callers run
it in a worker thread (stompim.im.media does, behind a semaphore of
`media.image_workers`), never on the event loop.

What is served is never the uploaded file itself but Pillow's re-encoding of it in
the same format, with the EXIF orientation applied to the pixels and every
metadata block left out (EXIF with its GPS position, XMP, comments, text chunks);
the ICC colour profile is kept. A thumbnail of the first frame, at most
`thumb_size` pixels on its longer side, is written beside it.

Decompression bombs are refused before anything is decoded: the header's
width x height must stay within `max_pixels` and within Pillow's own
`Image.MAX_IMAGE_PIXELS` (treated as an error, not a warning), and an animation's
frames together within `ANIMATION_PIXEL_FACTOR` times that.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
MAX_FRAMES = 1000
ANIMATION_PIXEL_FACTOR = 8
_ANIMATION_KEYS = ("duration", "loop", "background", "transparency", "disposal")


class ImageRefused(Exception):
    """The file is no usable image; `too_large` when only its size is the problem."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.too_large = too_large


@dataclass(frozen=True)
class ProcessedImage:
    content_type: str
    width: int
    height: int
    served: Path  # the re-encoded image
    thumbnail: Path
    thumbnail_type: str


def pixel_limit(max_pixels: int) -> int:
    """The stricter of stompim's limit and Pillow's decompression-bomb threshold."""
    pillow = Image.MAX_IMAGE_PIXELS
    return min(max_pixels, int(pillow)) if pillow else max_pixels


def process_image(
    source: Path, served: Path, thumbnail: Path, *, max_pixels: int, thumb_size: int
) -> ProcessedImage:
    """Re-encode `source` into `served` and its thumbnail into `thumbnail`.

    Raises ImageRefused for anything that is not a JPEG, PNG, GIF or WebP image
    Pillow can decode within the pixel limits."""
    limit = pixel_limit(max_pixels)
    try:
        image = Image.open(source, formats=list(FORMATS))
        with image:
            width, height = image.size
            if width <= 0 or height <= 0:
                raise ImageRefused("the image has no pixels")
            if width * height > limit:
                raise ImageRefused(
                    f"the image has {width}x{height} pixels; at most {limit} are accepted",
                    too_large=True,
                )
            frames = int(getattr(image, "n_frames", 1))
            if frames > MAX_FRAMES or width * height * frames > limit * ANIMATION_PIXEL_FACTOR:
                raise ImageRefused("the animation has too many frames", too_large=True)
            fmt = str(image.format)
            if frames > 1:
                first = _save_animation(image, fmt, served)
            else:
                first = _save_still(image, fmt, served)
            width, height = first.size
            thumb_type = _save_thumbnail(first, thumbnail, thumb_size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's threshold: an error past twice its limit, a warning past it (an
        # exception where warnings are errors); the check above refuses either way.
        raise ImageRefused("the image has too many pixels", too_large=True) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRefused(f"the file is not a readable image ({type(exc).__name__})") from None
    return ProcessedImage(FORMATS[fmt], width, height, served, thumbnail, thumb_type)


def _save_still(image: Image.Image, fmt: str, served: Path) -> Image.Image:
    icc = image.info.get("icc_profile")
    upright = ImageOps.exif_transpose(image)  # decodes; orientation moves into the pixels
    upright.info.clear()  # exif, xmp, comment, text chunks: none of it is written
    options: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if fmt == "JPEG":
        options.update(quality=90)
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
    elif fmt == "WEBP":
        options.update(quality=90)
    upright.save(served, fmt, **options)
    return upright


def _save_animation(image: Image.Image, fmt: str, served: Path) -> Image.Image:
    keep = {k: image.info[k] for k in _ANIMATION_KEYS if k in image.info}
    for key in ("exif", "xmp", "comment", "XML:com.adobe.xmp", "icc_profile"):
        image.info.pop(key, None)
    image.save(served, fmt, save_all=True, **keep)
    image.seek(0)
    return image.copy()


def _save_thumbnail(image: Image.Image, path: Path, size: int) -> str:
    thumb = image.copy()
    thumb.info.clear()
    has_alpha = thumb.mode in ("RGBA", "LA", "PA") or (
        thumb.mode == "P" and "transparency" in image.info
    )
    thumb = thumb.convert("RGBA" if has_alpha else "RGB")
    thumb.thumbnail((size, size))
    if has_alpha:
        thumb.save(path, "PNG")
        return "image/png"
    thumb.save(path, "JPEG", quality=85)
    return "image/jpeg"
