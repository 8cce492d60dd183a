"""A 1 GiB upload over the limit is refused while it streams, and the node's memory stays flat.

The node runs as `stompim serve` in a process of its own; the client streams a real
1 GiB multipart body from a generator (chunked, nothing held), while a thread samples
the node's RSS every 10 ms. The limit is 64 MiB, so the node must read, hash and
spool 64 MiB, refuse, and discard the rest, all in bounded buffers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import psutil
import pytest
from served import RssSampler, ServedNode

from stompim.im.errors import FILE_TOO_LARGE

from ._files import pdf, png

pytestmark = pytest.mark.slow

GIB = 1 << 30
CHUNK = 1 << 20
LIMIT = 64 << 20
RSS_BOUND = 8 << 20  # "a few MB"


async def _body(total: int, sent: list[int]) -> AsyncIterator[bytes]:
    head = pdf("large")
    zeros = bytes(CHUNK)
    yield head
    sent[0] += len(head)
    while sent[0] < total:
        piece = zeros if total - sent[0] >= CHUNK else zeros[: total - sent[0]]
        sent[0] += len(piece)
        yield piece


async def _upload(
    session: aiohttp.ClientSession, base: str, token: str, body: object
) -> tuple[int, dict[str, object] | None]:
    form = aiohttp.FormData()
    form.add_field("purpose", "chat")
    form.add_field("file", body, filename="huge.pdf", content_type="application/pdf")
    try:
        async with session.post(
            f"{base}/api/file/upload", data=form, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            return resp.status, await resp.json()
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
        return 0, None  # the node closed the connection on the unread rest


async def test_one_gib_over_the_limit_is_refused_with_flat_memory(tmp_path: Path) -> None:
    node = ServedNode.start(tmp_path, server_tcp_port="-1", media_max_chat_bytes=str(LIMIT))
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
            account = {"username": "bigsender", "password": "passw0rd-ok"}
            await session.post(f"{node.base}/api/user/register", json=account)
            async with session.post(f"{node.base}/api/user/login", json=account) as resp:
                token = (await resp.json())["data"]["token"]
            # warm up every code path once: an image, and a refusal over the limit
            status, _ = await _upload(session, node.base, token, png(300, 200))
            assert status == 200
            status, _ = await _upload(session, node.base, token, _body(LIMIT + 8 * CHUNK, [0]))
            assert status in (413, 0)
            await asyncio.sleep(0.5)
            before = psutil.Process(node.pid).memory_info().rss

            sent = [0]
            started = time.perf_counter()
            with RssSampler(node.pid) as sampler:
                status, answer = await _upload(session, node.base, token, _body(GIB, sent))
            seconds = time.perf_counter() - started
            after = psutil.Process(node.pid).memory_info().rss
    finally:
        node.stop()

    growth = max(sampler.peak, after) - before
    print(
        f"\n1 GiB refusal: RSS before {before / 2**20:.1f} MiB, peak {sampler.peak / 2**20:.1f} "
        f"MiB, growth {growth / 2**20:.2f} MiB; client sent {sent[0] / 2**20:.0f} MiB "
        f"in {seconds:.1f} s"
    )
    assert status == 413 and answer is not None, (status, answer, node.log[-5:])
    assert answer["code"] == FILE_TOO_LARGE
    assert sent[0] > LIMIT  # the body really went past the limit
    assert growth < RSS_BOUND, f"RSS grew by {growth / 2**20:.1f} MiB"
    spool = tmp_path / "node-media" / ".spool"
    assert spool.is_dir() and list(spool.glob("*")) == []  # nothing left behind
