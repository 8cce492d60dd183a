"""Two node processes behind a real nginx (Debian's package) serving REST and STOMP over
WebSocket from one origin, with the configuration README gives (docs/nginx.conf): a group
member connected through nginx loses its node to SIGKILL, reconnects through nginx to the
other node, resumes with `x-since-seq`, and gets every message the owner had answered
"stored" exactly once (sent before, during and after the outage).

The rendered configuration differs from docs/nginx.conf only in the addresses, in running
nginx in the foreground as this test's child, and in marking node B `backup`, so the
member's first session is known to be on node A (the one killed)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from interop._services import unavailable
from sendpath._nodeproc import NodeProcess
from stompclient import StompClient

from cluster._support import Rest
from stompim.frames import Command

pytestmark = [
    pytest.mark.mysql, pytest.mark.redis,
    pytest.mark.parametrize("node_backend", ["mysql+redis"], indirect=True),
]

DOCS_CONF = Path(__file__).resolve().parents[2] / "docs" / "nginx.conf"
PER_PHASE = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render(conf: str, a: NodeProcess, b: NodeProcess) -> str:
    """docs/nginx.conf with the two nodes' ports (B as backup); `Nginx` sets the listener."""
    conf = conf.replace("10.0.0.11:8080", f"127.0.0.1:{a.http}")
    conf = conf.replace("10.0.0.11:8081", f"127.0.0.1:{a.ws}")
    conf = re.sub(r"10\.0\.0\.12:8080 ([^;]*);", rf"127.0.0.1:{b.http} \1 backup;", conf)
    conf = re.sub(r"10\.0\.0\.12:8081 ([^;]*);", rf"127.0.0.1:{b.ws} \1 backup;", conf)
    assert "10.0.0." not in conf
    return conf


class Nginx:
    def __init__(self, workdir: Path, http_block: str) -> None:
        self.workdir = workdir
        self.port = _free_port()
        temp = workdir / "temp"
        temp.mkdir(exist_ok=True)
        temps = "\n".join(f"    {kind}_temp_path {temp / kind};"
                          for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(
            f"daemon off;\nmaster_process off;\npid {workdir / 'nginx.pid'};\n"
            f"error_log {workdir / 'error.log'} info;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n    access_log off;\n{temps}\n"
            + http_block.replace("listen 80;", f"listen 127.0.0.1:{self.port};") + "\n}\n")
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, binary: str) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            binary, "-p", str(self.workdir), "-c", str(self.conf),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        async with asyncio.timeout(10):
            while True:
                if self.proc.returncode is not None:
                    raise AssertionError(f"nginx exited: {await self.error_log()}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                return

    async def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text()[-3000:] if path.exists() else ""

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@pytest.fixture
def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                      else None)
    if found is None:
        unavailable("nginx is not installed (Debian package nginx-light; .ci/run installs it)")
    return found


@pytest.fixture
async def two_nodes(tmp_path: Path, node_backend: dict[str, dict[str, str]]
                    ) -> AsyncIterator[tuple[NodeProcess, NodeProcess]]:
    nodes = [NodeProcess(tmp_path, node_backend, server={"node_id": name,
                                                          "trusted_proxies": "127.0.0.1"})
             for name in ("A", "B")]
    try:
        for node in nodes:
            await node.start()
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            await node.stop()


async def _send_phase(owner: StompClient, gid: int, phase: int) -> set[str]:
    """PER_PHASE group messages pipelined with receipts; the ids answered "stored"."""
    for n in range(PER_PHASE):
        await owner.send_frame(
            "SEND", {"destination": f"/topic/chat/{gid}", "receipt": f"r{phase}-{n}",
                     "content-type": "application/json"},
            orjson.dumps({"content": f"{phase}.{n}", "clientMsgId": f"m-{phase}-{n}"}))
    ids = set()
    for n in range(PER_PHASE):
        answer = await owner.answer(f"r{phase}-{n}")
        assert answer.command is Command.RECEIPT and answer.get("message-id"), answer
        ids.add(answer.get("message-id") or "")
    return ids


async def _collect(member: StompClient, seen: list[tuple[str, int]], want: set[str]) -> None:
    async with asyncio.timeout(30):
        while not want <= {mid for mid, _ in seen}:
            frame = await member.frame(30)
            assert frame.command is Command.MESSAGE, frame
            seen.append((frame.get("message-id") or "", int(frame.get("seq") or 0)))


async def _member_session(port: int, token: str) -> StompClient:
    member = await StompClient.websocket(port, "/ws")
    reply = await member.connect(token=token)
    assert reply.command is Command.CONNECTED, reply
    return member


async def test_a_client_through_nginx_survives_its_node_dying_without_loss(
        two_nodes: tuple[NodeProcess, NodeProcess], nginx_binary: str, tmp_path: Path) -> None:
    a, b = two_nodes
    nginx = Nginx(tmp_path, render(DOCS_CONF.read_text(), a, b))
    await nginx.start(nginx_binary)
    member: StompClient | None = None
    owner: StompClient | None = None
    try:
        async with aiohttp.ClientSession() as http:
            front = Rest(http, nginx.port)                       # everything via nginx
            owner_user = await front.user("owner")
            member_user = await front.user("member")
            await front.befriend(owner_user, member_user)
            group = await front.ok("POST", "/api/group",
                                   {"name": "Team", "memberIds": [member_user[0]]},
                                   owner_user[1])
            gid = int(group["id"])

            owner = await StompClient.tcp(b.tcp)                 # the owner stays on B
            assert (await owner.connect(token=owner_user[1])).command is Command.CONNECTED
            member = await _member_session(nginx.port, member_user[1])   # on A (B is backup)
            await member.subscribe(f"/topic/chat/{gid}", "g")
            seen: list[tuple[str, int]] = []

            first = await _send_phase(owner, gid, 1)
            await _collect(member, seen, first)
            last_seq = max(seq for _, seq in seen)

            await a.kill()                                       # the member's node dies
            assert await member.closed(10) == []                 # its session ends
            missed = await _send_phase(owner, gid, 2)            # stored on B meanwhile

            member = await _member_session(nginx.port, member_user[1])   # nginx -> B
            await member.send_frame("SUBSCRIBE", {
                "destination": f"/topic/chat/{gid}", "id": "g",
                "x-since-seq": str(last_seq), "receipt": "back"})
            during = asyncio.ensure_future(_send_phase(owner, gid, 3))
            assert (await member.receipt("back")).command is Command.RECEIPT
            third = await during
            everything = first | missed | third
            await _collect(member, seen, everything)
            await member.no_frame(0.3)

            # REST through nginx goes on with A dead (nginx passes it to B)
            status, envelope = await front.call(
                "GET", f"/api/group/{gid}", token=member_user[1])
            assert status == 200 and envelope["data"]["id"] == gid, envelope
    finally:
        for client in (member, owner):
            if client is not None:
                await client.close()
        await nginx.stop()
    assert len(everything) == 3 * PER_PHASE
    assert sorted(mid for mid, _ in seen) == sorted(everything)     # each exactly once
    seqs = [seq for _, seq in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)     # in order, no repeats
