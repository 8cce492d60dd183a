"""Credentials that end everywhere, on two full nodes sharing MariaDB and Redis.

A password change, a disable and a deletion end the user's login+passcode and token
STOMP sessions on both nodes (the caller's own token session survives its password
change); `auth.single_session` ends older device sessions across nodes; a refresh on
one node makes the old token refused on the other at once; a session ended on one node
closes its STOMP connection on the other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from cachetools import TTLCache
from stompclient import StompClient

from stompim.app import Node
from stompim.config import Config
from stompim.frames import Command
from stompim.store import KeyValue, open_database

from ._support import PASSWORD, Rest, connect_stomp, eventually

pytestmark = [pytest.mark.mysql, pytest.mark.redis]

SECRET = "cluster-secret-of-the-credential-tests-0123456789"

StartCluster = Callable[..., Awaitable[tuple[Node, Node, Rest, Rest]]]


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    """The session's MariaDB database, emptied (sync: getfixturevalue outside the loop)."""
    request.getfixturevalue("mysql_db")
    return request.getfixturevalue("mysql_session_url")  # type: ignore[no-any-return]


@pytest.fixture
async def start_cluster(
    db_url: str, redis_url: str, kv_prefix: str, redis_kv: KeyValue
) -> AsyncIterator[StartCluster]:
    """Two nodes A and B with the given `auth` settings; `redis_kv` shares the prefix
    (its teardown deletes the nodes' keys). The periodic session check is slow here
    (60 s): what closes a session in these tests is the control sent through Redis,
    unless a test runs a check round itself."""
    nodes: list[Node] = []
    async with aiohttp.ClientSession() as http:

        async def start(**auth: Any) -> tuple[Node, Node, Rest, Rest]:
            for node_id in ("A", "B"):
                config = Config().replace(
                    server={"http_port": 0, "ws_port": 0, "tcp_port": 0, "node_id": node_id},
                    database={"url": db_url},
                    redis={"url": redis_url, "channel_prefix": kv_prefix},
                    auth={"bcrypt_rounds": 4, "jwt_secret": SECRET,
                          "session_check_ms": 60_000, **auth},
                )
                node = Node(config)
                await node.start()
                nodes.append(node)
            a, b = nodes
            return a, b, Rest(http, a.ports.http), Rest(http, b.ports.http)

        try:
            yield start
        finally:
            for node in reversed(nodes):
                await node.stop()


async def _password_session(port: int, username: str, password: str = PASSWORD) -> StompClient:
    client = await StompClient.tcp(port)
    reply = await client.connect(username, password)
    assert reply.command is Command.CONNECTED, reply
    return client


async def _login(rest: Rest, username: str, device: str | None = None,
                 password: str = PASSWORD) -> str:
    body: dict[str, Any] = {"username": username, "password": password}
    if device is not None:
        body["deviceType"] = device
    return str((await rest.ok("POST", "/api/user/login", body))["token"])


async def _ended(client: StompClient, reason: str) -> None:
    frames = await client.closed()
    assert [f.command for f in frames] == [Command.ERROR], frames
    assert frames[0].get("message") == reason, frames


async def _still_open(client: StompClient, name: str) -> None:
    await client.send_frame("SUBSCRIBE", {"destination": f"/topic/alive-{name}", "id": name,
                                          "receipt": f"alive-{name}"})
    assert (await client.answer(f"alive-{name}")).command is Command.RECEIPT


async def _refused(rest: Rest, token: str) -> None:
    status, envelope = await rest.call("GET", "/api/user/info", token=token)
    assert (status, envelope["code"]) == (401, 1003), envelope


async def test_password_change_ends_sessions_on_both_nodes(start_cluster: StartCluster) -> None:
    a, b, rest_a, rest_b = await start_cluster()
    await rest_a.user("alice")
    mine = await _login(rest_a, "alice", "web")
    other = await _login(rest_b, "alice", "ios")
    clients = {
        "password@A": await _password_session(a.ports.tcp, "alice"),
        "password@B": await _password_session(b.ports.tcp, "alice"),
        "other-token@B": await connect_stomp(b.ports.tcp, other),
        "my-token@A": await connect_stomp(a.ports.tcp, mine),
        "my-token@B": await connect_stomp(b.ports.tcp, mine),
    }
    try:
        await rest_a.ok("PUT", "/api/user/password",
                        {"oldPassword": PASSWORD, "newPassword": "changed-passw0rd"}, mine)
        for name in ("password@A", "password@B", "other-token@B"):
            await _ended(clients[name], "password changed")
        for name in ("my-token@A", "my-token@B"):
            await _still_open(clients[name], name.replace("@", "-"))
        for rest in (rest_a, rest_b):
            await _refused(rest, other)
            assert (await rest.call("GET", "/api/user/info", token=mine))[0] == 200
        # the old password no longer opens a STOMP session; the new one does
        stale = await StompClient.tcp(b.ports.tcp)
        try:
            assert (await stale.connect("alice", PASSWORD)).command is Command.ERROR
        finally:
            await stale.close()
        fresh = await _password_session(b.ports.tcp, "alice", "changed-passw0rd")
        await fresh.close()
    finally:
        for client in clients.values():
            await client.close()


async def test_disable_ends_every_session_on_both_nodes(start_cluster: StartCluster) -> None:
    a, b, rest_a, rest_b = await start_cluster()
    user_id, token = await rest_a.user("bob")
    clients = [
        await _password_session(a.ports.tcp, "bob"),
        await _password_session(b.ports.tcp, "bob"),
        await connect_stomp(a.ports.tcp, token),
        await connect_stomp(b.ports.tcp, token),
    ]
    try:
        assert a.services is not None
        assert await a.services.accounts.disable_user(user_id) == 1
        for client in clients:
            await _ended(client, "account disabled")
        for rest in (rest_a, rest_b):
            await _refused(rest, token)
        late = await StompClient.tcp(b.ports.tcp)
        try:
            assert (await late.connect(token="x", Authorization=f"Bearer {token}")
                    ).command is Command.ERROR
        finally:
            await late.close()
    finally:
        for client in clients:
            await client.close()


async def test_a_deleted_user_is_disconnected_by_the_session_check(
    start_cluster: StartCluster, db_url: str
) -> None:
    """Deleted straight in the database (no control is sent): each node's session check
    closes the sessions, and the token is refused within ACTIVE_CACHE_SECONDS."""
    a, b, rest_a, rest_b = await start_cluster()
    user_id, token = await rest_a.user("carol")
    survivor_id, survivor_token = await rest_a.user("dan")
    clients = [
        await _password_session(a.ports.tcp, "carol"),
        await connect_stomp(b.ports.tcp, token),
    ]
    survivor = await connect_stomp(b.ports.tcp, survivor_token)
    db = await open_database(db_url, pool_min=1, pool_max=1)
    try:
        await db.execute("DELETE FROM users WHERE id = ?", (user_id,))
        for node in (a, b):
            assert node.session_check is not None
            assert await node.session_check.check_once() == 1
        for client in clients:
            await _ended(client, "account disabled")
        await _still_open(survivor, "dan")

        async def refused_on_b() -> bool:
            status, _ = await rest_b.call("GET", "/api/user/info", token=token)
            return status == 401

        await eventually(refused_on_b, timeout=4.0)
        assert survivor_id != user_id
    finally:
        await db.close()
        await survivor.close()
        for client in clients:
            await client.close()


@pytest.mark.parametrize(
    ("mode", "ended_by_ios", "ended_by_web"),
    [("off", set(), set()),
     ("per_device_type", set(), {"web@A", "password@A"}),
     ("one", {"web@A", "password@A"}, {"ios@B"})],
)
async def test_single_session_modes_across_nodes(
    start_cluster: StartCluster, mode: str, ended_by_ios: set[str], ended_by_web: set[str]
) -> None:
    """Device 1 (web) is connected to node A; device 2 (ios) logs in and connects on node
    B; then a second web login on node B. A STOMP session with login+passcode on node A
    counts as a web device. After each login, the sessions the mode ends are closed, on
    whichever node they live, and their tokens refused."""
    a, b, rest_a, rest_b = await start_cluster(single_session=mode)
    await rest_a.ok("POST", "/api/user/register", {"username": "erin", "password": PASSWORD})
    tokens = {"web@A": await _login(rest_a, "erin", "web")}
    clients = {"web@A": await connect_stomp(a.ports.tcp, tokens["web@A"]),
               "password@A": await _password_session(a.ports.tcp, "erin")}
    try:
        tokens["ios@B"] = await _login(rest_b, "erin", "ios")
        clients["ios@B"] = await connect_stomp(b.ports.tcp, tokens["ios@B"])
        await _check_devices(rest_a, rest_b, tokens, clients, ended_by_ios, set(), "ios")
        newest = await _login(rest_b, "erin", "web")   # a second web login, on node B
        await _check_devices(rest_a, rest_b, tokens, clients, ended_by_web, ended_by_ios, "web")
        listed = await rest_a.ok("GET", "/api/user/sessions", token=newest)
        assert len(listed) == 3 - len({n for n in ended_by_ios | ended_by_web if n in tokens})
        assert [s["current"] for s in listed].count(True) == 1
    finally:
        for client in clients.values():
            await client.close()


async def _check_devices(
    rest_a: Rest, rest_b: Rest, tokens: dict[str, str], clients: dict[str, StompClient],
    ended: set[str], ended_before: set[str], step: str,
) -> None:
    for name, client in clients.items():
        if name in ended_before:
            continue
        if name in ended:
            await _ended(client, "logged in elsewhere")
            for rest in (rest_a, rest_b):
                if name in tokens:   # a login+passcode session has none
                    await _refused(rest, tokens[name])
        else:
            await _still_open(client, f"{name.replace('@', '-')}-{step}")
            if name in tokens:
                assert (await rest_a.call("GET", "/api/user/info", token=tokens[name]))[0] == 200


async def test_refresh_on_a_refuses_the_old_token_on_b(start_cluster: StartCluster) -> None:
    _, b, rest_a, rest_b = await start_cluster()
    await rest_a.ok("POST", "/api/user/register", {"username": "fred", "password": PASSWORD})
    old = await _login(rest_a, "fred", "android")
    live = await connect_stomp(b.ports.tcp, old)
    try:
        refreshed = await rest_a.ok("POST", "/api/user/token/refresh", token=old)
        assert refreshed["token"] != old and refreshed["expiresAt"] > 0
        await _refused(rest_b, old)
        status, envelope = await rest_b.call("POST", "/api/user/token/refresh", token=old)
        assert (status, envelope["code"]) == (401, 1003)
        assert (await rest_b.call("GET", "/api/user/info", token=refreshed["token"]))[0] == 200
        # the STOMP session opened with the old token belongs to the same login: it stays
        await _still_open(live, "fred")
        [session] = await rest_b.ok("GET", "/api/user/sessions", token=refreshed["token"])
        assert session["deviceType"] == "android" and session["current"] is True
        # ending that session from node A closes the connection on node B
        await rest_a.ok("DELETE", f"/api/user/sessions/{session['id']}",
                        token=refreshed["token"])
        await _ended(live, "session ended")
        await _refused(rest_b, refreshed["token"])
    finally:
        await live.close()


async def test_ending_one_device_from_another(start_cluster: StartCluster) -> None:
    a, b, rest_a, rest_b = await start_cluster()
    await rest_a.ok("POST", "/api/user/register", {"username": "gail", "password": PASSWORD})
    phone = await _login(rest_b, "gail", "ios")
    desk = await _login(rest_a, "gail", "desktop")
    phone_client = await connect_stomp(b.ports.tcp, phone)
    desk_client = await connect_stomp(a.ports.tcp, desk)
    try:
        listed = await rest_a.ok("GET", "/api/user/sessions", token=desk)
        by_device = {s["deviceType"]: s for s in listed}
        assert set(by_device) == {"ios", "desktop"}
        assert by_device["desktop"]["current"] and not by_device["ios"]["current"]
        assert by_device["ios"]["ip"] == "127.0.0.1"
        await rest_a.ok("DELETE", f"/api/user/sessions/{by_device['ios']['id']}", token=desk)
        await _ended(phone_client, "session ended")
        await _still_open(desk_client, "desk")
        status, envelope = await rest_b.call(
            "DELETE", f"/api/user/sessions/{by_device['ios']['id']}", token=desk)
        assert (status, envelope["code"]) == (404, 1009)
    finally:
        await phone_client.close()
        await desk_client.close()


async def test_the_close_control_drops_the_other_nodes_cached_account(
    start_cluster: StartCluster, db_url: str
) -> None:
    """Node B trusts an account state it read (here for a minute, to make the point);
    the close-sessions control of a credential change on node A makes it read again."""
    a, b, rest_a, rest_b = await start_cluster()
    user_id, token = await rest_a.user("hugo")
    assert b.services is not None and a.broker is not None
    b.services.accounts._active = TTLCache(100, 60.0)
    assert (await rest_b.call("GET", "/api/user/info", token=token))[0] == 200  # cached
    db = await open_database(db_url, pool_min=1, pool_max=1)
    try:  # a generation moved on behind the nodes' backs: B still trusts its cache
        await db.execute("UPDATE users SET credential_gen = credential_gen + 1 WHERE id = ?",
                         (user_id,))
    finally:
        await db.close()
    assert (await rest_b.call("GET", "/api/user/info", token=token))[0] == 200
    await a.broker.publisher.close_user_sessions(user_id, "credentials changed", "no-such")

    async def refused_on_b() -> bool:
        return (await rest_b.call("GET", "/api/user/info", token=token))[0] == 401

    await eventually(refused_on_b)
