"""Generic queue throughput: one node without Redis (its queues in memory) against two
nodes sharing the queue through Redis streams (producer on one node, consumer on the
other), and one node with Redis (same code path, no second node).

`python -m bench.queue_cluster [--messages N] [--window W] [--out FILE]`: each case starts
fresh `stompim serve` processes (SQLite, anonymous STOMP), a producer sends N SENDs of
64 bytes with a receipt each, at most W unanswered, and one auto-ack consumer counts the
MESSAGEs; msg/s is N over the time from the first SEND to the last MESSAGE. Redis keys
live under a fresh prefix, deleted afterwards. Results (and this command line) are
written to bench/results/queue_cluster.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

RESULTS = Path(__file__).resolve().parent / "results"
REDIS = "redis://127.0.0.1:6379/0"
_SERVING = re.compile(r"serving REST http://[^:]+:(\d+)/api, .*STOMP tcp (\d+)")


async def start_node(workdir: Path, node_id: str, redis_url: str, prefix: str
                     ) -> tuple[asyncio.subprocess.Process, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOMPIM_")}
    env.update(STOMPIM_SERVER_HOST="127.0.0.1", STOMPIM_SERVER_HTTP_PORT="0",
               STOMPIM_SERVER_WS_PORT="0", STOMPIM_SERVER_TCP_PORT="0",
               STOMPIM_SERVER_NODE_ID=node_id, STOMPIM_REDIS_URL=redis_url,
               STOMPIM_REDIS_CHANNEL_PREFIX=prefix, STOMPIM_STOMP_ALLOW_ANONYMOUS="true",
               STOMPIM_DATABASE_URL=f"sqlite:///{workdir / (node_id + '.db')}")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stompim", "serve", cwd=workdir, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    async with asyncio.timeout(60):
        while True:
            line = (await proc.stderr.readline()).decode(errors="replace")
            if not line:
                raise RuntimeError("node exited before serving")
            if m := _SERVING.search(line):
                asyncio.get_running_loop().create_task(_drain(proc))
                return proc, int(m.group(2))


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stderr is not None
    while await proc.stderr.readline():
        pass


async def stomp(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\x00")
    data = await reader.readuntil(b"\x00")
    assert data.lstrip(b"\n").startswith(b"CONNECTED"), data
    return reader, writer


async def run_case(ports: tuple[int, int], n: int, window: int) -> dict[str, Any]:
    queue = f"/queue/bench-{uuid.uuid4().hex[:8]}"
    c_reader, c_writer = await stomp(ports[1])
    c_writer.write(f"SUBSCRIBE\nid:0\ndestination:{queue}\nack:auto\nreceipt:s\n\n\x00".encode())
    assert b"RECEIPT" in await c_reader.readuntil(b"\x00")
    p_reader, p_writer = await stomp(ports[0])
    body = b"x" * 64
    done = asyncio.Event()
    received = 0

    async def consume() -> None:
        nonlocal received
        pending = b""
        while received < n:
            chunk = await c_reader.read(1 << 16)
            if not chunk:
                raise RuntimeError("consumer connection closed")
            pending += chunk
            received += pending.count(b"\x00")
            pending = pending[pending.rfind(b"\x00") + 1:]
        done.set()

    credit = asyncio.Semaphore(window)
    refused = 0

    async def receipts() -> None:
        nonlocal refused
        for _ in range(n):
            frame = await p_reader.readuntil(b"\x00")
            if b"x-error-code" in frame or b"ERROR" in frame[:8]:
                refused += 1
            credit.release()

    started = time.perf_counter()
    tasks = [asyncio.create_task(consume()), asyncio.create_task(receipts())]
    for i in range(n):
        await credit.acquire()
        p_writer.write(f"SEND\ndestination:{queue}\nreceipt:{i}\ncontent-length:64\n\n"
                       .encode() + body + b"\x00")
        if i % 64 == 0:
            await p_writer.drain()
    async with asyncio.timeout(300):
        await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    for w in (c_writer, p_writer):
        w.close()
    return {"messages": n, "seconds": round(elapsed, 3), "msg_per_s": round(n / elapsed),
            "refused": refused, "received": received}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cases = [("single_node_memory", 1, ""), ("single_node_redis", 1, REDIS),
             ("cross_node_redis", 2, REDIS)]
    for name, count, redis_url in cases:
        prefix = f"qbench_{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory() as tmp:
            procs = [await start_node(Path(tmp), f"b{i}", redis_url, prefix)
                     for i in range(count)]
            try:
                ports = (procs[0][1], procs[-1][1])
                await run_case(ports, min(2000, args.messages), args.window)   # warm-up
                out[name] = await run_case(ports, args.messages, args.window)
                print(name, out[name], flush=True)
            finally:
                for proc, _ in procs:
                    proc.send_signal(signal.SIGTERM)
                for proc, _ in procs:
                    await proc.wait()
                if redis_url:
                    async with aioredis.Redis.from_url(redis_url) as r:
                        keys = [k async for k in r.scan_iter(match=f"{prefix}:*")]
                        if keys:
                            await r.delete(*keys)
    base = out["single_node_memory"]["msg_per_s"]
    out["ratio_cross_node_to_single_node"] = round(out["cross_node_redis"]["msg_per_s"] / base, 3)
    out["ratio_single_node_redis_to_memory"] = round(
        out["single_node_redis"]["msg_per_s"] / base, 3)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--out", default=str(RESULTS / "queue_cluster.json"))
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    results["command"] = "flock /work/.bench.lock .venv/bin/python -m bench.queue_cluster " + \
        shlex.join(sys.argv[1:])
    results["cpus"] = os.cpu_count()
    Path(arguments.out).write_text(json.dumps(results, indent=2) + "\n")
