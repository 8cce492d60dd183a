"""`stompim user disable|reset-password` against running nodes.

With MariaDB + Redis, two nodes share the database and Redis: the admin command (another
process's worth of connections, its own cluster-bridge id) revokes the tokens in Redis
and tells every node to close the user's STOMP sessions, token and login+password ones
alike. On the embedded default (SQLite, in-process store) the command cannot reach the
node; the node still refuses the disabled user's token on REST and on a new CONNECT
(within ACTIVE_CACHE_SECONDS), because its token check reads the account and its
credential generation, and its periodic session check (auth.session_check_ms, short
here) closes the sessions already open.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from interop._fullnode import JWT_SECRET, FullNode
from interop._loop import LoopThread

from stompim.frames import Command, Frame, FrameParser, encode
from stompim.im.accounts import ACTIVE_CACHE_SECONDS

from ._support import Cli

PASSWORD = "live-passw0rd"
SESSION_CHECK_MS = 300


class StompTcp:
    """A blocking STOMP 1.2 client over TCP; every read is bounded."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.parser = FrameParser()
        self.frames: list[Frame] = []
        self.send(Command.CONNECT, {"accept-version": "1.2", "host": "stompim", **headers})

    def send(self, command: Command, headers: dict[str, str]) -> None:
        self.sock.sendall(encode(Frame.build(command, headers, b"")))

    def next_frame(self, timeout: float = 10.0) -> Frame | None:
        """The next frame, or None when the server closed the connection."""
        deadline = time.monotonic() + timeout
        while not self.frames:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                return None
            self.frames.extend(self.parser.feed(data))
        return self.frames.pop(0)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def nodes(
    loop_thread: LoopThread, tmp_path: Path, node_backend: dict[str, Any]
) -> Iterator[list[FullNode]]:
    """Two nodes on MariaDB + Redis; one on SQLite (a file two processes cannot share
    a token registry through)."""
    count = 2 if node_backend["redis"]["url"] else 1
    started: list[FullNode] = []
    try:
        for n in range(count):
            node = FullNode(loop_thread, tmp_path / "node.db", node_backend,
                            server={"node_id": f"live-{n}"},
                            auth={"session_check_ms": SESSION_CHECK_MS})
            node.start()
            started.append(node)
        yield started
    finally:
        for node in started:
            node.stop()


@pytest.fixture
def admin(cli: Cli, node_backend: dict[str, Any], tmp_path: Path) -> Cli:
    database = node_backend["database"]["url"]
    if database.startswith("sqlite"):
        database = f"sqlite:///{tmp_path / 'node.db'}"
    cli.env.update(STOMPIM_DATABASE_URL=database, STOMPIM_AUTH_JWT_SECRET=JWT_SECRET,
                   STOMPIM_REDIS_URL=node_backend["redis"]["url"])
    if node_backend["redis"]["url"]:
        cli.env["STOMPIM_REDIS_CHANNEL_PREFIX"] = node_backend["redis"]["channel_prefix"]
    return cli


def login(node: FullNode, username: str, password: str = PASSWORD) -> tuple[int, dict[str, Any]]:
    return node.rest("POST", "/api/user/login", {"username": username, "password": password})


def connected(client: StompTcp) -> StompTcp:
    frame = client.next_frame()
    assert frame is not None and frame.command is Command.CONNECTED, frame
    return client


def test_disable_ends_tokens_and_sessions(nodes: list[FullNode], admin: Cli) -> None:
    first = nodes[0]
    status, body = first.rest("POST", "/api/user/register",
                              {"username": "mallory", "password": PASSWORD})
    assert status == 200, body
    token = login(first, "mallory")[1]["data"]["token"]
    clustered = len(nodes) == 2
    clients = []
    for node in nodes:
        clients.append(connected(StompTcp(node.ports.tcp, {"Authorization": f"Bearer {token}"})))
        clients.append(connected(StompTcp(node.ports.tcp,
                                          {"login": "mallory", "passcode": PASSWORD})))
    try:
        result = admin("user", "disable", "mallory")
        assert result.code == 0, result.err
        if clustered:
            assert "tokens: 1 revoked in Redis" in result.out
            assert "every node was told to close" in result.out
            for client in clients:  # on both nodes, token and password sessions alike
                frame = client.next_frame()
                assert frame is not None and frame.command is Command.ERROR, frame
                assert frame.get("message") == "account disabled"
                assert client.next_frame() is None
        else:
            assert "no Redis configured" in result.out
            for client in clients:  # closed by the node's own session check
                frame = client.next_frame()
                assert frame is not None and frame.command is Command.ERROR, frame
                assert frame.get("message") == "account disabled"
                assert client.next_frame() is None

        for node in nodes:
            # embedded: the node trusts an account it saw active for ACTIVE_CACHE_SECONDS
            deadline = time.monotonic() + ACTIVE_CACHE_SECONDS + 3
            while (reply := node.rest("GET", "/api/user/info", token=token))[0] != 401:
                assert not clustered, "Redis revoked the token: refused at once"
                assert time.monotonic() < deadline, f"token still accepted: {reply}"
                time.sleep(0.1)
            status, body = reply
            assert (status, body["code"]) == (401, 1003), body
            status, body = login(node, "mallory")
            assert (status, body["code"]) == (403, 1008), body
            late = StompTcp(node.ports.tcp, {"Authorization": f"Bearer {token}"})
            try:
                frame = late.next_frame()
                assert frame is not None and frame.command is Command.ERROR, frame
            finally:
                late.close()
    finally:
        for client in clients:
            client.close()

    assert admin("user", "enable", "mallory").code == 0
    status, body = login(nodes[-1], "mallory")
    assert status == 200, body


def test_reset_password_ends_sessions_on_every_node(nodes: list[FullNode], admin: Cli) -> None:
    first, last = nodes[0], nodes[-1]
    status, body = first.rest("POST", "/api/user/register",
                              {"username": "trudy", "password": PASSWORD})
    assert status == 200, body
    token = login(last, "trudy")[1]["data"]["token"]
    client = connected(StompTcp(last.ports.tcp, {"login": "trudy", "passcode": PASSWORD}))
    try:
        result = admin("user", "reset-password", "trudy", "--password-stdin",
                       stdin="brand-new-passw0rd\n")
        assert result.code == 0, result.err
        if len(nodes) == 2:
            frame = client.next_frame()
            assert frame is not None and frame.get("message") == "password reset"
            assert first.rest("GET", "/api/user/info", token=token)[0] == 401
        else:  # the node's session check and token check see the new generation
            assert "no Redis configured" in result.out
            frame = client.next_frame()
            assert frame is not None and frame.get("message") == "credentials ended", frame
            _refused_soon(first, token)
    finally:
        client.close()
    assert login(first, "trudy")[1]["code"] == 1002
    assert login(last, "trudy", "brand-new-passw0rd")[0] == 200


def test_revoke_ends_sessions_but_not_the_account(nodes: list[FullNode], admin: Cli) -> None:
    first, last = nodes[0], nodes[-1]
    status, body = first.rest("POST", "/api/user/register",
                              {"username": "victor", "password": PASSWORD})
    assert status == 200, body
    token = login(last, "victor")[1]["data"]["token"]
    clients = [
        connected(StompTcp(last.ports.tcp, {"login": "victor", "passcode": PASSWORD})),
        connected(StompTcp(first.ports.tcp, {"Authorization": f"Bearer {token}"})),
    ]
    try:
        result = admin("user", "revoke", "victor")
        assert result.code == 0, result.err
        assert "credentials of user" in result.out
        for client in clients:
            frame = client.next_frame()
            assert frame is not None and frame.command is Command.ERROR, frame
            assert frame.get("message") in ("sessions revoked", "credentials ended"), frame
        for node in nodes:
            _refused_soon(node, token)
    finally:
        for client in clients:
            client.close()
    assert login(first, "victor")[0] == 200  # the password still works


def _refused_soon(node: FullNode, token: str) -> None:
    """The token is refused within ACTIVE_CACHE_SECONDS (at once with Redis)."""
    deadline = time.monotonic() + ACTIVE_CACHE_SECONDS + 3
    while (reply := node.rest("GET", "/api/user/info", token=token))[0] != 401:
        assert time.monotonic() < deadline, f"token still accepted: {reply}"
        time.sleep(0.1)
    assert reply[1]["code"] == 1003, reply
