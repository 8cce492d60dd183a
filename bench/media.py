"""`python -m bench.media [--quick]` — media uploads against one stompim node (local disk).

Three measurements on a node started like every bench target (`bench.targets`):
  * files: large distinct uploads one after another (multipart, streamed from a
    generator); MB/s of file bytes, the node's CPU and RSS while it streams, hashes
    and spools them to disk and moves them into the store;
  * images: distinct 1600x1200 JPEGs (EXIF stripped, re-encoded, thumbnailed in the
    node's worker threads); uploads per second;
  * refusal: a 1 GiB body offered against the 100 MiB chat limit; the node's RSS
    sampled every 10 ms, peak growth over the RSS before it.
Results go to bench/results/media.json with the command that produced them.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import shlex
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import psutil
from PIL import Image

from bench.__main__ import RESULTS, machine
from bench.measure import Meter, log
from bench.targets import Options, start_stompim

MIB = 1 << 20
CHUNK = MIB
PDF_HEAD = b"%PDF-1.4\n% stompim bench\n"


async def _content(index: int, size: int) -> AsyncIterator[bytes]:
    """`size` bytes of a PDF-looking file, distinct per `index` (so none is deduplicated)."""
    block = bytes((index * 7 + i) % 251 for i in range(CHUNK))
    yield PDF_HEAD + index.to_bytes(8, "big")
    sent = len(PDF_HEAD) + 8
    while sent < size:
        piece = block[: min(CHUNK, size - sent)]
        sent += len(piece)
        yield piece


def _jpeg(index: int) -> bytes:
    image = Image.new("RGB", (1600, 1200), (index % 256, 90, 160))
    image.paste((255 - index % 256, 30, 30), (0, 0, 800, 600))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


async def _upload(
    session: aiohttp.ClientSession, base: str, token: str, body: Any, name: str
) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("purpose", "chat")
    form.add_field("file", body, filename=name, content_type="application/octet-stream")
    try:
        async with session.post(
            f"{base}/api/file/upload", data=form, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            return resp.status, await resp.json()
    except aiohttp.ClientError as exc:
        return 0, repr(exc)


class RssPeak:
    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(0.01)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


async def run(quick: bool) -> dict[str, Any]:
    files, size, images = (4, 32 * MIB, 20) if quick else (8, 64 * MIB, 60)
    opts = Options(
        anonymous=False,
        extra_env=(
            ("STOMPIM_AUTH_BCRYPT_ROUNDS", "4"),
            ("STOMPIM_MEDIA_USER_QUOTA_BYTES", str(1 << 40)),
        ),
    )
    result: dict[str, Any] = {}
    async with start_stompim(opts) as target, aiohttp.ClientSession() as session:
        assert target.http is not None and target.pid is not None
        base = target.http
        account = {"username": "mediabench", "password": "passw0rd-bench"}
        await session.post(f"{base}/api/user/register", json=account)
        async with session.post(f"{base}/api/user/login", json=account) as resp:
            token = (await resp.json())["data"]["token"]
        await _upload(session, base, token, _jpeg(9999), "warm.jpg")

        log(f"== media files: {files} x {size // MIB} MiB")
        meter = Meter(target.pid)
        meter.start()
        started = time.perf_counter()
        for i in range(files):
            status, answer = await _upload(session, base, token, _content(i, size), f"f{i}.pdf")
            assert status == 200, answer
        seconds = time.perf_counter() - started
        result["files"] = {
            "count": files, "size_mib": size // MIB, "seconds": round(seconds, 2),
            "mib_per_s": round(files * size / MIB / seconds, 1), **meter.stop(),
        }
        log(f"  {result['files']['mib_per_s']} MiB/s")

        log(f"== media images: {images} x 1600x1200 JPEG")
        bodies = [_jpeg(i) for i in range(images)]
        meter = Meter(target.pid)
        meter.start()
        started = time.perf_counter()
        for i, body in enumerate(bodies):
            status, answer = await _upload(session, base, token, body, f"i{i}.jpg")
            assert status == 200 and answer["data"]["width"] == 1600, answer
        seconds = time.perf_counter() - started
        result["images"] = {
            "count": images, "jpeg_bytes": len(bodies[0]), "seconds": round(seconds, 2),
            "uploads_per_s": round(images / seconds, 1), **meter.stop(),
        }
        log(f"  {result['images']['uploads_per_s']} uploads/s")

        log("== media refusal: 1 GiB offered, 100 MiB limit")
        await asyncio.sleep(1.0)
        before = psutil.Process(target.pid).memory_info().rss
        peak = RssPeak(target.pid)
        peak.start()
        started = time.perf_counter()
        status, answer = await _upload(session, base, token, _content(10**6, 1 << 30), "huge.pdf")
        seconds = time.perf_counter() - started
        peak.stop()
        result["refusal"] = {
            "status": status, "code": answer["code"] if isinstance(answer, dict) else None,
            "seconds": round(seconds, 2), "rss_before_mib": round(before / MIB, 1),
            "rss_peak_mib": round(peak.peak / MIB, 1),
            "rss_growth_mib": round((peak.peak - before) / MIB, 2),
        }
        log(f"  status {status}, RSS growth {result['refusal']['rss_growth_mib']} MiB")
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.media", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer and smaller uploads")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.quick))
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "scenario": "media",
        "machine": machine(),
        "runs": {"stompim": {
            "quick": args.quick, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": shlex.join(["python", "-m", "bench.media", *argv]), "result": result,
        }},
    }
    (RESULTS / "media.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
