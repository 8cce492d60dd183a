"""Files the media tests upload, made here from scratch (no fixtures on disk).

`jpeg_with_gps()` carries EXIF with a GPS position, a camera maker, an orientation
and a comment, the things that must not be served; `png_bomb()` is a real,
decodable PNG of far too many pixels that is only a few hundred KB (zeros compress
well), made row by row so the test itself stays small in memory.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

SECRET_MAKER = "SecretCameraMaker"
SECRET_COMMENT = b"SECRET-COMMENT-IN-FILE"
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg_with_gps(width: int = 64, height: int = 48, orientation: int = 6) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, width // 2, height // 2))  # a corner to see rotation
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = SECRET_MAKER
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=SECRET_COMMENT)
    return out.getvalue()


def png(width: int = 40, height: int = 30, color: tuple[int, ...] = (10, 200, 10)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def animated_gif(frames: int = 3, size: int = 24) -> bytes:
    images = [Image.new("RGB", (size, size), (80 * i % 256, 40, 200)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(
        out,
        "GIF",
        save_all=True,
        append_images=images[1:],
        duration=80,
        loop=0,
        comment=SECRET_COMMENT,
    )
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A 1-bit greyscale PNG of width x height zero pixels."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    parts = [packer.compress(row) for _ in range(height)]
    parts.append(packer.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def elf_executable(size: int = 4096) -> bytes:
    """The head of a 64-bit Linux ELF executable, padded."""
    head = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHI", 2, 0x3E, 1)
    return head + b"\x00" * (size - len(head))


def windows_executable(size: int = 4096) -> bytes:
    head = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"
    return head + b"\x00" * (size - len(head))


def pdf(text: str = "hello") -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n% "
        + text.encode()
        + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )
