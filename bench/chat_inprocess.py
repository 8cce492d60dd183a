"""Persisted chat in one process, for A/B runs of two source trees on a busy machine.

A node (stompim.app.Node) on a throw-away MariaDB database and 4 STOMP/TCP senders in the
same process send receipted private messages at 500/s each (2,000/s) for 5 s. Printed:
receipt latency p50/p99 and the process CPU per message (CPU time, not wall time, so
other load on the machine moves it less than it moves throughput).

Compare two trees by alternating them, each run naming its tree with PYTHONPATH:

    PYTHONPATH=/path/to/before .venv/bin/python -m bench.chat_inprocess before
    PYTHONPATH=. .venv/bin/python -m bench.chat_inprocess after

Only loopback; the database is created and dropped by the run; bounded in time.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any

import aiohttp
import orjson
import pymysql

from stompim.app import Node
from stompim.config import Config
from stompim.frames import Command, Frame, FrameParser, encode

RATE, SECONDS, SENDERS = 500, 5.0, 4
PASSWORD = "passw0rd-1"


async def _rest(http: aiohttp.ClientSession, base: str, method: str, path: str,
                body: Any = None, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, base + path, json=body, headers=headers) as resp:
        return (await resp.json())["data"]


async def _sender(port: int, token: str, to: int, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    parser = FrameParser()
    writer.write(encode(Frame.build(Command.CONNECT, {
        "accept-version": "1.2", "Authorization": f"Bearer {token}"})))
    while not parser.feed(await reader.read(65536)):
        pass
    loop = asyncio.get_running_loop()
    sent: dict[str, float] = {}
    total = int(RATE * SECONDS)

    async def read() -> None:
        done = 0
        while done < total:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed")
            for frame in parser.feed(data):
                if frame.command is Command.RECEIPT:
                    latencies.append(loop.time() - sent[frame.get("receipt-id") or ""])
                    done += 1

    reading = loop.create_task(read())
    start = loop.time()
    for n in range(total):
        body = orjson.dumps({"toUserId": to, "content": f"m{n}"})
        sent[f"r{n}"] = loop.time()
        writer.write(encode(Frame.build(Command.SEND, {
            "destination": "/app/chat/private", "receipt": f"r{n}"}, body)))
        ahead = start + (n + 1) / RATE - loop.time()
        if ahead > 0:
            await asyncio.sleep(ahead)
    await asyncio.wait_for(reading, 30)
    writer.close()


async def run(label: str) -> str:
    name = f"stompim_bench_{uuid.uuid4().hex[:8]}"
    server = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    server.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        config = Config().replace(
            server={"http_port": 0, "ws_port": 0, "tcp_port": 0, "node_id": "bench"},
            database={"url": f"mysql://root@127.0.0.1:3306/{name}"},
            auth={"bcrypt_rounds": 4, "jwt_secret": "bench-secret-" + "x" * 32},
            stomp={"max_connections_per_user": 64},
        )
        node = Node(config)
        await node.start()
        try:
            base = f"http://127.0.0.1:{node.ports.http}"
            async with aiohttp.ClientSession() as http:
                ids, tokens = [], []
                for user in ("alice", "bob"):
                    made = await _rest(http, base, "POST", "/api/user/register",
                                       {"username": user, "password": PASSWORD})
                    ids.append(int(made["id"]))
                    login = await _rest(http, base, "POST", "/api/user/login",
                                        {"username": user, "password": PASSWORD})
                    tokens.append(str(login["token"]))
                request = await _rest(http, base, "POST", "/api/friend/request",
                                      {"toUserId": ids[1]}, tokens[0])
                await _rest(http, base, "POST", f"/api/friend/request/{request['id']}/accept",
                            None, tokens[1])
            latencies: list[float] = []
            cpu = time.process_time()
            await asyncio.gather(*(_sender(node.ports.tcp, tokens[0], ids[1], latencies)
                                   for _ in range(SENDERS)))
            cpu = time.process_time() - cpu
        finally:
            await node.stop()
    finally:
        server.cursor().execute(f"DROP DATABASE `{name}`")
        server.close()
    latencies.sort()
    n = len(latencies)
    return (f"{label}: n={n} p50 {latencies[n // 2] * 1000:.2f} ms "
            f"p99 {latencies[int(n * 0.99)] * 1000:.2f} ms cpu {1e6 * cpu / n:.1f} us/msg")


if __name__ == "__main__":
    print(asyncio.run(run(sys.argv[1] if len(sys.argv) > 1 else "run")))
