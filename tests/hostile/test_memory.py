"""Floods that used to make a node hold hundreds of MB (issue 10, points 2 and 3), at a
smaller scale, against a whole node in its own process, with its RSS sampled every
5 ms.  Each test states its bound: what the budgets allow plus SLACK (what a node's
heap moves by under such traffic without holding anything: buffers, allocator).

* login+passcode CONNECT, then at once 16 SENDs of 1 MiB, from 12 clients while the
  slow password checks run (bcrypt cost 12): the node holds what the pre-auth budget
  allows per connection, not the 192 MiB sent;
* 150 TCP and 100 WebSocket connections each holding a 900 KB partial frame before
  CONNECT (135 MB and 90 MB) against a 32 MiB node-wide pre-auth budget: the rest are
  refused "server busy", the peak stays under budget + SLACK;
* 250 SENDs of 256 KiB to 250 distinct /queue/junk-N (62.5 MiB) against a 16 MiB
  node-wide queue budget: refused past it; after the TTL the queues are gone and the
  node's RSS is back near its baseline (returned to the system, stompim.memory).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from promscrape import scrape
from served import RssSampler, ServedNode
from stompclient import StompClient

from stompim.frames import Command

pytestmark = pytest.mark.slow

MIB = 1 << 20
SLACK = 24 * MIB
AFTER = 12 * MIB   # what a node may keep once a burst is over (was +20 MiB without trimming)
PASSWORD = "hostile-pass-1"
CONNECT_HEAD = (b"CONNECT\naccept-version:1.2\nlogin:mallory\npasscode:" + PASSWORD.encode()
                + b"\n\n")


@contextlib.contextmanager
def served(tmp_path: Path, **settings: str) -> Iterator[ServedNode]:
    node = ServedNode.start(tmp_path, **settings)
    try:
        yield node
    finally:
        node.stop()


async def _metrics(node: ServedNode) -> dict[str, float]:
    """The node's gauges this file reads, from /metrics (summed over transports)."""
    async with aiohttp.ClientSession() as http:
        found = await scrape(http, node.http)
    return {name: found.total(f"stompim_stomp_{name}") for name in (
        "sessions", "preauth_bytes", "preauth_connections", "queues", "queued_bytes")}


async def _settled_rss(node: ServedNode, base: int, bound: int) -> int:
    """RSS over `base` once no session is left on the node and the node had its chance
    to give freed heap back (its sweep trims at most once a second): polled until under
    `bound`, for at most 5 s; the last value."""
    async with asyncio.timeout(20):
        while (await _metrics(node))["sessions"]:   # noqa: ASYNC110
            await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (after := node.rss() - base) >= bound and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return after


async def _register(node: ServedNode) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        f"http://127.0.0.1:{node.http}/api/user/register",
        json={"username": "mallory", "password": PASSWORD},
    ) as resp:
        assert resp.status == 200, await resp.text()


async def _outcome(client: StompClient) -> str:
    """CONNECTED, or the ERROR's message, or "closed"."""
    try:
        frame = await client.frame_or_eof(60)
    except (ConnectionError, TimeoutError) as exc:
        return f"no answer: {exc!r}"
    if frame is None:
        return "closed"
    if frame.command is Command.CONNECTED:
        return "CONNECTED"
    return f"ERROR {frame.get('message')}"


async def _stream_behind_connect(port: int, sends: int) -> str:
    client = await StompClient.tcp(port)
    send = b"SEND\ndestination:/topic/junk\n\n" + b"s" * MIB + b"\x00"
    writer = asyncio.ensure_future(client.send_raw(CONNECT_HEAD + b"\x00" + send * sends))
    outcome = await _outcome(client)
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(60):
            await writer
    await client.close()
    return outcome


async def test_sends_streamed_behind_a_slow_password_check(tmp_path: Path) -> None:
    with served(tmp_path, auth_bcrypt_rounds="12") as node:
        await _register(node)
        assert await _stream_behind_connect(node.tcp, 1) == "CONNECTED"   # warm up
        base = node.rss()
        with RssSampler(node.pid) as rss:
            outcomes = Counter(await asyncio.gather(
                *(_stream_behind_connect(node.tcp, 16) for _ in range(12))))
        growth = rss.peak - base
        after = await _settled_rss(node, base, SLACK)
        print(f"\n[preauth stream] 12 x (CONNECT + 16 x 1 MiB): {dict(outcomes)}; "
              f"RSS {base / MIB:.1f} MiB, peak +{growth / MIB:.1f} MiB, "
              f"after +{after / MIB:.1f} MiB")
        assert all(o == "CONNECTED" or o.startswith("ERROR") for o in outcomes), outcomes
        assert not any("internal" in o for o in outcomes), outcomes
        # per connection: one frame (1 MiB) plus one read (256 KiB) at most
        assert growth < 12 * (MIB + MIB // 4) + SLACK, growth
        # This one stays near its peak (+9 to +15 MiB in runs): trimming at a 1 MiB
        # threshold did not lower it, so it is not freed heap but memory the node keeps
        # using after a first crowd of logins at cost 12; bounded all the same.
        assert after < SLACK, after


async def _hold_partial(kind: str, port: int, size: int) -> tuple[StompClient, str]:
    """A partial CONNECT of `size` bytes: the node either refuses it at once (busy) or
    holds it until connect_timeout_ms ("no CONNECT frame in time")."""
    client = await StompClient.open(kind, port)
    await client.send_raw(CONNECT_HEAD + b"x" * size)
    frames = await client.closed(60)
    assert [f.command for f in frames] == [Command.ERROR], frames
    return client, frames[0].get("message") or ""


@pytest.mark.parametrize(("kind", "count"), [("tcp", 150), ("ws", 100)])
async def test_partial_frames_before_connect_are_capped_node_wide(
    tmp_path: Path, kind: str, count: int
) -> None:
    budget = 32 * MIB
    with served(tmp_path, stomp_preauth_max_total_bytes=str(budget),
                stomp_connect_timeout_ms="6000") as node:
        port = node.tcp if kind == "tcp" else node.ws
        warm = await StompClient.open(kind, port)
        await warm.send_raw(CONNECT_HEAD + b"x" * 900_000)
        await warm.close()
        base = node.rss()
        with RssSampler(node.pid) as rss:
            clients = asyncio.gather(*(_hold_partial(kind, port, 900_000) for _ in range(count)))
            peak_held = 0.0
            while not clients.done():
                metrics = await _metrics(node)
                peak_held = max(peak_held, metrics["preauth_bytes"])
                assert metrics["preauth_bytes"] <= budget
                await asyncio.wait([clients], timeout=0.2)
            held = await clients
        growth = rss.peak - base
        outcomes = Counter(message for _, message in held)
        print(f"\n[preauth partial {kind}] {count} x 900 KB: {dict(outcomes)}; the node held "
              f"at most {peak_held / MIB:.1f} MiB; RSS {base / MIB:.1f} MiB, "
              f"peak +{growth / MIB:.1f} MiB")
        assert set(outcomes) == {"server busy: too much input awaiting CONNECT, retry",
                                 "no CONNECT frame in time"}, outcomes
        # the held partial frames (their buffers may be over-allocated) plus SLACK
        assert growth < budget + SLACK + 8 * MIB, growth
        for client, _ in held:
            await client.close()
        assert (await _metrics(node))["preauth_connections"] == 0
        after = await _settled_rss(node, base, AFTER)
        print(f"[preauth partial {kind}] RSS after they left +{after / MIB:.1f} MiB")
        assert after < AFTER, after


async def test_250_junk_queues_bounded_and_reclaimed(tmp_path: Path) -> None:
    budget = 16 * MIB
    with served(tmp_path, stomp_max_queues_total_bytes=str(budget),
                stomp_queue_message_ttl_ms="3000", stomp_allow_anonymous="true") as node:
        body = b"j" * (256 * 1024)
        client = await StompClient.tcp(node.tcp)
        assert (await client.connect("", "")).command is Command.CONNECTED
        base = node.rss()
        refused = 0
        with RssSampler(node.pid) as rss:
            for n in range(250):
                await client.send_frame(
                    "SEND", {"destination": f"/queue/junk-{n}", "receipt": f"r{n}"}, body)
                if (await client.frame(30)).command is Command.ERROR:
                    refused += 1
                    await client.close()
                    client = await StompClient.tcp(node.tcp)
                    assert (await client.connect("", "")).command is Command.CONNECTED
            await client.close()
            held = await _metrics(node)
        growth = rss.peak - base
        async with asyncio.timeout(20):   # the TTL (3 s) passes, the sweep drops them
            while (await _metrics(node))["queues"]:   # noqa: ASYNC110
                await asyncio.sleep(0.1)
        after = await _settled_rss(node, base, AFTER)
        print(f"\n[queues] 250 x 256 KiB to distinct queues: {refused} refused, "
              f"{held['queues']:.0f} queues held "
              f"{held['queued_bytes'] / MIB:.1f} MiB; RSS {base / MIB:.1f} MiB, "
              f"peak +{growth / MIB:.1f} MiB, after the TTL +{after / MIB:.1f} MiB")
        assert held["queued_bytes"] <= budget
        assert refused >= 250 - budget // (256 * 1024)
        assert growth < budget + SLACK, growth
        assert after < AFTER, after
