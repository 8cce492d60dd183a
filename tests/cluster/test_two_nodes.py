"""Two full nodes (stompim.app.Node) in one event loop, sharing the real MariaDB
database and the real Redis: what one node publishes, revokes or kicks reaches
the other, and presence is the same seen from either node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from stompim.app import Node
from stompim.config import Config
from stompim.frames import Command
from stompim.store import KeyValue

from ._support import Rest, connect_stomp, eventually, json_body

pytestmark = [pytest.mark.mysql, pytest.mark.redis]

SECRET = "cluster-secret-of-the-two-node-tests-0123456789"


@dataclass
class Cluster:
    a: Node
    b: Node
    rest_a: Rest
    rest_b: Rest


def _config(node_id: str, db_url: str, redis_url: str, prefix: str) -> Config:
    return Config().replace(
        server={"http_port": 0, "ws_port": 0, "tcp_port": 0, "node_id": node_id},
        database={"url": db_url},
        redis={"url": redis_url, "channel_prefix": prefix},
        auth={"bcrypt_rounds": 4, "jwt_secret": SECRET},
    )


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    """The session's MariaDB database, emptied (sync: getfixturevalue outside the loop)."""
    request.getfixturevalue("mysql_db")
    return request.getfixturevalue("mysql_session_url")  # type: ignore[no-any-return]


@pytest.fixture
async def cluster(
    db_url: str, redis_url: str, kv_prefix: str, redis_kv: KeyValue
) -> AsyncIterator[Cluster]:
    """`redis_kv` shares the prefix: its teardown deletes the nodes' keys."""
    nodes: list[Node] = []
    try:
        for node_id in ("A", "B"):
            node = Node(_config(node_id, db_url, redis_url, kv_prefix))
            await node.start()
            nodes.append(node)
        async with aiohttp.ClientSession() as http:
            a, b = nodes
            yield Cluster(a, b, Rest(http, a.ports.http), Rest(http, b.ports.http))
    finally:
        for node in reversed(nodes):
            await node.stop()


async def test_generic_topic_crosses_nodes(cluster: Cluster) -> None:
    _, token_a = await cluster.rest_a.user("alice")
    _, token_b = await cluster.rest_a.user("bob")
    alice = await connect_stomp(cluster.a.ports.tcp, token_a)
    bob = await connect_stomp(cluster.b.ports.tcp, token_b)
    try:
        await alice.subscribe("/topic/news", "a")
        await bob.subscribe("/topic/news", "b")
        body = b"binary\x00body\xff\n"
        await alice.send_frame("SEND", {"destination": "/topic/news", "x-tag": "t:1",
                                  "content-type": "application/octet-stream",
                                  "receipt": "s1"}, body)
        assert (await alice.answer("s1")).command is Command.RECEIPT
        for client in (bob, alice):
            msg = await client.frame()
            assert msg.command is Command.MESSAGE and msg.body == body, msg
            assert msg.get("destination") == "/topic/news" and msg.get("x-tag") == "t:1"
        # and back from B to A; nobody gets a second copy (no echo)
        await bob.send_frame("SEND", {"destination": "/topic/news", "receipt": "s2"}, b"pong")
        assert (await bob.answer("s2")).command is Command.RECEIPT
        assert (await alice.frame()).body == b"pong"
        assert (await bob.frame()).body == b"pong"
        await alice.no_frame(0.3)
        await bob.no_frame(0.3)

        # generic queues are shared through Redis streams (docs/queues.md): a SEND on A
        # is stored (its RECEIPT names the entry) and B's subscriber gets it, once
        await bob.subscribe("/queue/jobs", "q")
        await alice.send_frame("SEND", {"destination": "/queue/jobs", "receipt": "s3"}, b"job")
        stored = await alice.answer("s3")
        assert stored.command is Command.RECEIPT and stored.get("message-id"), stored
        job = await bob.frame()
        assert job.body == b"job" and job.get("message-id") == stored.get("message-id")
        await alice.no_frame(0.3)
    finally:
        await alice.close()
        await bob.close()


async def test_private_chat_from_a_reaches_b(cluster: Cluster) -> None:
    rest = cluster.rest_a
    a = await rest.user("alice")
    b = await rest.user("bob")
    await rest.befriend(a, b)
    alice = await connect_stomp(cluster.a.ports.tcp, a[1])
    bob = await connect_stomp(cluster.b.ports.tcp, b[1])
    try:
        await bob.subscribe("/user/queue/chat", "chat")
        await alice.send_frame("SEND", {"destination": "/app/chat/private", "receipt": "m1",
                                  "content-type": "application/json"},
                         b'{"toUserId": %d, "content": "hi from A"}' % b[0])
        receipt = await alice.answer("m1")
        assert receipt.command is Command.RECEIPT and receipt.get("seq") == "1", receipt
        mid = receipt.get("message-id")
        msg = await bob.frame()
        assert msg.command is Command.MESSAGE
        assert json_body(msg)["content"] == "hi from A" and str(json_body(msg)["id"]) == mid
        assert msg.get("destination") == f"/queue/chat/{b[0]}"
        assert msg.get("x-message-id") == mid  # headers survive the bridge
        await bob.no_frame(0.3)
    finally:
        await alice.close()
        await bob.close()


async def test_logout_on_a_closes_the_session_on_b(cluster: Cluster) -> None:
    _, token1 = await cluster.rest_a.user("bob")
    _, carol_token = await cluster.rest_b.user("carol")
    # bob logs in a second time: another token (another device)
    login = await cluster.rest_b.ok("POST", "/api/user/login",
                                    {"username": "bob", "password": "passw0rd-ok"})
    doomed = await connect_stomp(cluster.b.ports.tcp, token1)
    other_device = await connect_stomp(cluster.b.ports.tcp, login["token"])
    carol = await connect_stomp(cluster.b.ports.tcp, carol_token)
    try:
        await cluster.rest_a.ok("POST", "/api/user/logout", token=token1)
        frames = await doomed.closed()
        assert [f.command for f in frames] == [Command.ERROR], frames
        # bob's session opened with the other token stays, as does carol's
        for client in (other_device, carol):
            await client.subscribe("/topic/still-open", "s")
        status, envelope = await cluster.rest_b.call("GET", "/api/user/info", token=token1)
        assert status == 401 and envelope["code"] == 1003
    finally:
        for client in (doomed, other_device, carol):
            await client.close()


async def test_kick_on_a_ends_the_group_subscription_on_b(cluster: Cluster) -> None:
    rest = cluster.rest_a
    owner = await rest.user("owner")
    member = await rest.user("member")
    await rest.befriend(owner, member)
    group = await rest.ok("POST", "/api/group", {"name": "Team", "memberIds": [member[0]]},
                          owner[1])
    gid = group["id"]
    assert group["memberIds"] == [owner[0], member[0]]
    sender = await connect_stomp(cluster.a.ports.tcp, owner[1])
    listener = await connect_stomp(cluster.b.ports.tcp, member[1])
    try:
        await listener.subscribe(f"/topic/chat/{gid}", "g")

        async def group_send(receipt: str, text: str) -> None:
            await sender.send_frame("SEND", {"destination": f"/topic/chat/{gid}",
                                             "receipt": receipt,
                                             "content-type": "application/json"},
                                    b'{"content": "%s"}' % text.encode())
            assert (await sender.answer(receipt)).command is Command.RECEIPT

        await group_send("g1", "before")
        assert json_body(await listener.frame())["content"] == "before"
        await rest.ok("DELETE", f"/api/group/{gid}/member/{member[0]}", token=owner[1])
        # The kick's system message reaches the kicked member (it is published before
        # the cut-off), then nothing more.
        kicked = json_body(await listener.frame())
        assert kicked["type"] == "system" and kicked["extra"]["event"] == "member_kicked"
        assert kicked["extra"]["userIds"] == [member[0]]
        # The kick's control went out before this message, on the same channel.
        await group_send("g2", "after")
        await listener.no_frame(0.5)
    finally:
        await sender.close()
        await listener.close()


async def test_presence_seen_from_the_other_node(cluster: Cluster) -> None:
    alice_id, alice_token = await cluster.rest_a.user("alice")
    bob_id, bob_token = await cluster.rest_a.user("bob")

    async def online() -> dict[str, bool]:
        return await cluster.rest_a.ok(  # type: ignore[no-any-return]
            "GET", f"/api/user/online?ids={alice_id},{bob_id}", token=alice_token)

    assert await online() == {str(alice_id): False, str(bob_id): False}
    bob1 = await connect_stomp(cluster.b.ports.tcp, bob_token)
    bob2 = await connect_stomp(cluster.b.ports.tcp, bob_token)
    try:
        async def bob_online() -> bool:
            return (await online())[str(bob_id)]

        await eventually(bob_online)
        await bob1.send_frame("DISCONNECT", {"receipt": "bye"})
        assert (await bob1.answer("bye")).command is Command.RECEIPT
        await bob1.closed()
        assert cluster.b.presence is not None
        await eventually(lambda: _is(cluster.b.presence.sessions_here(bob_id) == 1))
        assert await bob_online()  # one device is still connected
        await bob2.close()  # dropped without DISCONNECT

        async def bob_offline() -> bool:
            return not await bob_online()

        await eventually(bob_offline)
        assert (await online())[str(alice_id)] is False
    finally:
        await bob1.close()
        await bob2.close()


async def _is(value: bool) -> bool:
    return value
