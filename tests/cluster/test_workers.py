"""`stompim serve --workers N` with real processes: the workers share the node's ports
(SO_REUSEPORT), clients on different workers chat through the Redis bridge, a worker
killed with SIGKILL is started again and serves, SIGTERM stops every worker cleanly;
without Redis the command refuses at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from promscrape import Scrape, scrape
from stompclient import StompClient

from stompim.frames import Command

from ._support import Rest

JWT_SECRET = "workers-test-secret-0123456789-abcdefghijklmnop"
_SERVING = re.compile(r"node (\S+) serving REST http://[^:]+:(\d+)/api, STOMP ws://[^:]+:(\d+)"
                      r"\S*, STOMP tcp (\d+)")
_STARTED = re.compile(r"worker (\d+) started \(pid (\d+)\)")


class Supervised:
    """`python -m stompim serve --workers 2` and its log, read line by line."""

    def __init__(self, workdir: Path, sections: dict[str, dict[str, str]]) -> None:
        self.env = dict(os.environ)
        self.env.pop("STOMPIM_CONFIG", None)
        for section, values in sections.items():
            for key, value in values.items():
                self.env[f"STOMPIM_{section.upper()}_{key.upper()}"] = str(value)
        self.env.update(
            STOMPIM_SERVER_HOST="127.0.0.1", STOMPIM_SERVER_HTTP_PORT="0",
            STOMPIM_SERVER_WS_PORT="0", STOMPIM_SERVER_TCP_PORT="0",
            STOMPIM_AUTH_JWT_SECRET=JWT_SECRET, STOMPIM_AUTH_BCRYPT_ROUNDS="4",
            STOMPIM_STOMP_SEND_DRAIN_MS="2000",
        )
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stompim", "serve", "--workers", "2", cwd=self.workdir,
            env=self.env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.lines.append(line.decode(errors="replace"))
            self.changed.set()

    async def wait_for(self, pattern: re.Pattern[str], count: int,
                       timeout: float = 30.0) -> list[re.Match[str]]:
        """The first `count` log lines matching `pattern` (waits for them)."""
        async with asyncio.timeout(timeout):
            while True:
                found = [m for line in self.lines if (m := pattern.search(line))]
                if len(found) >= count:
                    return found[:count]
                if self.proc is not None and self.proc.returncode is not None:
                    raise AssertionError("the supervisor exited:\n" + "".join(self.lines[-30:]))
                self.changed.clear()
                await self.changed.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 30)
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            await self._reader


@pytest.fixture
async def supervised(tmp_path: Path, node_backend: dict[str, dict[str, str]]
                     ) -> AsyncIterator[Supervised]:
    sup = Supervised(tmp_path, node_backend)
    try:
        yield sup
    finally:
        await sup.stop()


async def until(http: aiohttp.ClientSession, port: int, name: str, value: float,
                **labels: str) -> Scrape:
    """Scrape until `name{labels}` is `value` (workers write their figures each second)."""
    async with asyncio.timeout(10):
        while True:
            seen = await scrape(http, port)
            if seen.value(name, **labels) == value:
                return seen
            await asyncio.sleep(0.1)


def node_of(client_session: str) -> str:
    """The node id in a CONNECTED `session` header (`<node id>s<n>`)."""
    return client_session.rsplit("s", 1)[0]


async def one_per_worker(port: int, token: str, nodes: set[str],
                         transport: str = "tcp") -> dict[str, StompClient]:
    """A STOMP client on each of `nodes` (new connections until each was hit; the kernel
    spreads them over the workers sharing the port); the extra ones closed."""
    found: dict[str, StompClient] = {}
    for _ in range(60):
        client = await StompClient.open(transport, port)
        reply = await client.connect(token=token)
        assert reply.command is Command.CONNECTED, reply
        node = node_of(reply.get("session") or "")
        if node in nodes and node not in found:
            found[node] = client
            if len(found) == len(nodes):
                return found
        else:
            await client.close()
    raise AssertionError(f"60 connections reached only {sorted(found)} of {sorted(nodes)}")


async def chat_across(sender: StompClient, receiver: StompClient, to: int, text: str) -> None:
    await receiver.subscribe("/user/queue/chat", f"chat-{text}")
    reply = await sender.send_json("/app/chat/private", text, toUserId=to, type="text",
                                   content=text)
    assert reply.get("message-id"), reply
    [msg] = await receiver.messages(1)
    assert orjson.loads(msg.body)["content"] == text


@pytest.mark.parametrize(
    "node_backend", [pytest.param("mysql+redis", marks=[pytest.mark.mysql, pytest.mark.redis])],
    indirect=True)
async def test_two_workers_share_the_ports_chat_restart_and_stop(
        supervised: Supervised) -> None:
    await supervised.start()
    serving = await supervised.wait_for(_SERVING, 2)
    started = await supervised.wait_for(_STARTED, 2)
    assert {m.group(2, 3, 4) for m in serving} == {serving[0].group(2, 3, 4)}  # same ports
    nodes = {m.group(1) for m in serving}
    assert len(nodes) == 2
    http_port, ws_port, tcp_port = (int(serving[0].group(i)) for i in (2, 3, 4))
    async with aiohttp.ClientSession() as http:
        rest = Rest(http, http_port)
        alice, bob = await rest.user("alice"), await rest.user("bob")
        await rest.befriend(alice, bob)
        a_on = await one_per_worker(tcp_port, alice[1], nodes)
        b_on = await one_per_worker(ws_port, bob[1], nodes, "ws")    # WebSocket: shared too
        first, second = sorted(nodes)
        try:
            await chat_across(a_on[first], b_on[second], bob[0], "one-to-two")
            await chat_across(b_on[first], a_on[second], alice[0], "two-to-one")
            # /metrics of whichever worker answers counts both workers' sessions
            await until(http, http_port, "stompim_stomp_sessions", 2, transport="tcp")
            seen = await until(http, http_port, "stompim_stomp_sessions", 2,
                               transport="websocket")
            assert seen.value("stompim_chat_messages_stored_total") == 2
            assert seen.total("stompim_http_requests_total", route="/api/user/login") == 2
        finally:
            for client in (*a_on.values(), *b_on.values()):
                await client.close()

        # SIGKILL one worker: the supervisor says so and starts it again
        victim = int(started[0].group(2))
        os.kill(victim, signal.SIGKILL)
        again = await supervised.wait_for(_STARTED, 3)
        assert int(again[2].group(1)) == int(started[0].group(1))
        assert int(again[2].group(2)) != victim
        assert any(f"(pid {victim}) was killed by SIGKILL" in line for line in supervised.lines)
        serving = await supervised.wait_for(_SERVING, 3)
        survivors = {m.group(1) for m in serving if not m.group(1).endswith(f"-{victim}")}
        assert len(survivors) == 2
        a_on = await one_per_worker(tcp_port, alice[1], survivors)
        b_on = await one_per_worker(tcp_port, bob[1], survivors)
        new = next(n for n in survivors if n not in nodes)
        old = next(n for n in survivors if n != new)
        try:
            await chat_across(a_on[old], b_on[new], bob[0], "to-the-new-worker")
            await chat_across(b_on[new], a_on[old], alice[0], "from-the-new-worker")
        finally:
            for client in (*a_on.values(), *b_on.values()):
                await client.close()

    # SIGTERM: every worker drains and exits, the supervisor exits 0
    proc = supervised.proc
    assert proc is not None
    workers = [int(m.group(2)) for m in again[1:]]
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert sum("exited with code 0" in line for line in supervised.lines) == 2


async def test_workers_without_redis_are_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOMPIM_")}
    env.update(STOMPIM_DATABASE_URL=f"sqlite:///{tmp_path / 'node.db'}", STOMPIM_REDIS_URL="",
               STOMPIM_AUTH_JWT_SECRET=JWT_SECRET)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stompim", "serve", "--workers", "2", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "--workers 2 needs Redis" in err.decode() and "redis.url" in err.decode()
