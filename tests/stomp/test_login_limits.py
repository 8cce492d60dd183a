"""Failed-login limits over real sockets: STOMP `login`+`passcode` CONNECTs count toward
the per-address limit like REST logins (the broker hands the peer address to the
authenticator, over TCP and WebSocket), and a lock on an account from one address does
not lock its owner out elsewhere. Two client hosts are played by two loopback source
addresses, 127.0.0.2 (the attacker) and 127.0.0.1 (the owner)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from stompclient import StompClient
from websockets.asyncio.client import connect as ws_connect

from stompim.app import Node
from stompim.config import Config
from stompim.frames import Command, Frame, FrameParser, encode

PASSWORD = "passw0rd-ok"
ATTACKER = "127.0.0.2"
PER_IP = 6
PER_ACCOUNT_AND_SOURCE = 3


@pytest.fixture
async def node(tmp_path: Path, node_backend: dict[str, Any]) -> AsyncIterator[Node]:
    """127.0.0.3 plays a trusted reverse proxy (server.trusted_proxies)."""
    config = Config().replace(
        server={"http_port": 0, "ws_port": 0, "tcp_port": 0,
                "trusted_proxies": ["127.0.0.3"]},
        auth={"bcrypt_rounds": 4, "login_max_failures": PER_ACCOUNT_AND_SOURCE,
              "login_max_failures_per_ip": PER_IP, "login_max_failures_per_account": 50},
    ).replace(**node_backend)
    if node_backend["redis"]["url"]:
        config = config.replace(auth={"jwt_secret": "login-limit-tests-secret-0123456789abc"})
    node = Node(config)
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


async def _register(node: Node, *names: str, source: str = "127.0.0.1") -> None:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        for name in names:
            async with http.post(f"http://127.0.0.1:{node.ports.http}/api/user/register",
                                 json={"username": name, "password": PASSWORD}) as resp:
                assert resp.status == 200, await resp.text()


async def _rest_login(node: Node, name: str, password: str, source: str) -> tuple[int, int]:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http, http.post(
        f"http://127.0.0.1:{node.ports.http}/api/user/login",
        json={"username": name, "password": password},
    ) as resp:
        return resp.status, (await resp.json())["code"]


async def _stomp_login(node: Node, name: str, password: str, source: str) -> Frame:
    client = await StompClient.tcp(node.ports.tcp, source=source)
    try:
        return await client.connect(name, password)
    finally:
        await client.close()


async def _ws_login(node: Node, name: str, password: str, source: str,
                    forwarded_for: str | None = None) -> Frame:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with ws_connect(f"ws://127.0.0.1:{node.ports.ws}/ws", subprotocols=["v12.stomp"],
                          local_addr=(source, 0), open_timeout=5, close_timeout=1,
                          additional_headers=headers) as ws:
        await ws.send(encode(Frame.build(Command.CONNECT, {
            "accept-version": "1.2", "host": "x", "login": name, "passcode": password})))
        parser = FrameParser()
        while True:
            frames = parser.feed(await ws.recv(decode=False))
            if frames:
                return frames[0]


async def test_stomp_spraying_hits_the_address_limit(node: Node) -> None:
    names = [f"user{n}" for n in range(PER_IP + 2)]
    await _register(node, *names)
    for name in names[:PER_IP]:   # one wrong password per account, all from one address
        reply = await _stomp_login(node, name, "wrong-passw0rd", ATTACKER)
        assert reply.command is Command.ERROR
        assert reply.get("message") == "wrong account or password", reply
    # from now on even the right password of a fresh account is refused from there,
    # over TCP and over WebSocket, and over REST
    sprayed = await _stomp_login(node, names[-1], PASSWORD, ATTACKER)
    assert sprayed.command is Command.ERROR
    assert sprayed.get("message") == "too many failed logins from this address, try again later"
    ws_reply = await _ws_login(node, names[-1], PASSWORD, ATTACKER)
    assert ws_reply.command is Command.ERROR and "from this address" in (
        ws_reply.get("message") or ""), ws_reply
    assert await _rest_login(node, names[-1], PASSWORD, ATTACKER) == (429, 9005)
    # another address is not affected
    assert (await _stomp_login(node, names[-1], PASSWORD, "127.0.0.1")).command is (
        Command.CONNECTED)


async def test_the_owner_logs_in_while_the_attacker_is_locked(node: Node) -> None:
    await _register(node, "victim")
    for _ in range(PER_ACCOUNT_AND_SOURCE):
        reply = await _stomp_login(node, "victim", "guess-passw0rd", ATTACKER)
        assert reply.get("message") == "wrong account or password", reply
    locked = await _stomp_login(node, "victim", PASSWORD, ATTACKER)
    assert locked.command is Command.ERROR
    assert locked.get("message") == "too many failed logins for this account, try again later"
    assert await _rest_login(node, "victim", PASSWORD, ATTACKER) == (429, 9005)
    # the owner, from their own address, over STOMP and REST
    assert (await _stomp_login(node, "victim", PASSWORD, "127.0.0.1")).command is (
        Command.CONNECTED)
    assert await _rest_login(node, "victim", PASSWORD, "127.0.0.1") == (200, 200)
    assert (await _ws_login(node, "victim", PASSWORD, "127.0.0.1")).command is (
        Command.CONNECTED)


async def test_behind_a_trusted_proxy_the_forwarded_address_counts(node: Node) -> None:
    """WebSocket handshakes through the proxy 127.0.0.3: the client named by
    X-Forwarded-For is counted, not the proxy; a client that is not a trusted proxy
    cannot pick its address with the header."""
    names = [f"prox{n}" for n in range(PER_IP + 1)]
    await _register(node, *names)
    proxy, sprayer = "127.0.0.3", "198.51.100.7"
    for name in names[:PER_IP]:
        reply = await _ws_login(node, name, "wrong-passw0rd", proxy, sprayer)
        assert reply.get("message") == "wrong account or password", reply
    blocked = await _ws_login(node, names[-1], PASSWORD, proxy, sprayer)
    assert "from this address" in (blocked.get("message") or ""), blocked
    # another client behind the same proxy, and the proxy's own address, are not blocked
    assert (await _ws_login(node, names[-1], PASSWORD, proxy, "198.51.100.8")).command is (
        Command.CONNECTED)
    assert (await _ws_login(node, names[-1], PASSWORD, proxy)).command is Command.CONNECTED
    # an untrusted client naming the sprayer is counted as itself
    assert (await _ws_login(node, names[-1], PASSWORD, "127.0.0.1", sprayer)).command is (
        Command.CONNECTED)
