"""Chat end to end: a real node (app.Node) and STOMP clients over real TCP sockets.

Covers what only the wired system shows: the RECEIPT carries the stored message's
id/seq/conversation, every device of the recipient and the sender's other
session get the MESSAGE, refusals arrive on /user/queue/errors with the
connection kept, and a re-SUBSCRIBE with x-since-seq resumes without gap or
duplicate (private queue by message id, group topic by seq). SQLite and MariaDB.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from stompclient import StompClient

from stompim.app import Node
from stompim.config import Config
from stompim.frames import Command, Frame


async def connected(port: int, token: str) -> StompClient:
    client = await StompClient.tcp(port)
    reply = await client.connect(token=token)
    assert reply.command is Command.CONNECTED, reply
    return client


def body(frame: Frame) -> dict[str, Any]:
    return orjson.loads(frame.body)  # type: ignore[no-any-return]


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Sync on purpose (getfixturevalue must not run inside the event loop)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'e2e.db'}"
    request.getfixturevalue("mysql_db")  # empties the session database's tables
    return request.getfixturevalue("mysql_session_url")  # type: ignore[no-any-return]


@pytest.fixture
async def node(database_url: str) -> AsyncIterator[Node]:
    url = database_url
    config = Config().replace(
        server={"http_port": 0, "ws_port": 0, "tcp_port": 0},
        database={"url": url},
        auth={"bcrypt_rounds": 4, "jwt_secret": "e2e-secret-of-the-chat-tests-0123456789"},
    )
    n = Node(config)
    await n.start()
    try:
        yield n
    finally:
        await n.stop()


async def users(node: Node, *names: str) -> list[tuple[int, str]]:
    out = []
    accounts = node.services.accounts  # type: ignore[union-attr]
    for name in names:
        user = await accounts.register(username=name, password="passw0rd-ok")
        login = await accounts.login(username=name, password="passw0rd-ok")
        out.append((user.id, login.token))
    return out


async def test_private_and_group_over_tcp_with_resume(node: Node) -> None:
    services = node.services
    assert services is not None
    (a, ta), (b, tb), (c, _tc) = await users(node, "alice", "bob", "carol")
    await services.friends.send_request(a, b)
    await services.friends.send_request(b, a)
    group = await services.groups.create(a, name="Team", member_ids=[b])
    gid = int(group["id"])
    port = node.ports.tcp
    alice = await connected(port, ta)
    bob1 = await connected(port, tb)
    bob2 = await connected(port, tb)
    clients = [alice, bob1, bob2]
    try:
        await alice.subscribe("/user/queue/chat", "chat")
        await alice.subscribe("/user/queue/errors", "errors")
        for i, bob in enumerate((bob1, bob2)):
            await bob.subscribe("/user/queue/chat", f"chat{i}")
        await bob1.subscribe(f"/topic/chat/{gid}", "group")

        receipt = await alice.send_json("/app/chat/private", "s1", toUserId=b, content="hi bob",
                                        clientMsgId="m-1")
        assert receipt.command is Command.RECEIPT and receipt.get("receipt-id") == "s1", receipt
        mid, conv = receipt.get("message-id"), receipt.get("conversation-id")
        assert receipt.get("seq") == "1" and mid and conv
        row = await services.db.fetch_one(
            "SELECT content FROM chat_message WHERE id = ?", (int(mid),)
        )
        assert row == {"content": "hi bob"}
        for device in (bob1, bob2, alice):  # both of bob's devices and alice's own queue
            [msg] = await device.messages(1)
            assert body(msg)["content"] == "hi bob" and body(msg)["id"] == int(mid)
            # `seq` of /queue/chat/<me>: the place in that user's inbox (first of both)
            assert msg.get("conversation-id") == conv and msg.get("seq") == "1"
            assert msg.get("x-inbox-seq") == "1"
            assert msg.get("x-message-id") == mid and msg.get("x-conversation-seq") == "1"
            assert [v for k, v in msg.headers if k == "message-id"] == [mid]

        # a resend is acknowledged with the same message and not delivered again
        again = await alice.send_json(
            "/app/chat/private", "s2", toUserId=b, content="hi bob", clientMsgId="m-1"
        )
        assert again.get("message-id") == mid
        await bob2.no_frame(0.3)

        # a refusal answers the receipt (no message-id), is told on /user/queue/errors,
        # and the connection stays usable
        refused = await alice.send_json(f"/queue/chat/{c}", "s3", content="hello stranger")
        assert refused.get("x-error-code") == "2003" and refused.get("message-id") is None
        [notice] = await alice.messages(1)
        assert body(notice)["code"] == 2003 and notice.get("receipt-id") == "s3"

        # group chat
        g1 = await alice.send_json(f"/topic/chat/{gid}", "g1", content="team!")
        assert g1.get("seq") == "1"
        [gm] = await bob1.messages(1)
        assert body(gm)["groupId"] == gid and gm.get("seq") == "1"

        # bob2 goes offline; messages arrive meanwhile; it resumes from the last seq it saw
        last_private = "1"   # the seq bob's devices saw last
        await bob2.close()
        clients.remove(bob2)
        await bob1.close()
        clients.remove(bob1)
        sent = []
        for i in range(3):
            r = await alice.send_json(f"/queue/chat/{b}", f"p{i}", content=f"missed {i}")
            sent.append(r.get("message-id"))
        await alice.send_json(f"/topic/chat/{gid}", "g2", content="team 2")
        await alice.send_json(f"/topic/chat/{gid}", "g3", content="team 3")
        await alice.messages(3)  # her own copies

        back = await connected(port, tb)
        clients.append(back)
        await back.subscribe("/user/queue/chat", "chat", x_since_seq=str(last_private))
        replayed = await back.messages(3)
        assert [f.get("message-id") for f in replayed] == sent
        assert [body(f)["content"] for f in replayed] == ["missed 0", "missed 1", "missed 2"]
        await back.subscribe(f"/topic/chat/{gid}", "group", x_since_seq="1")
        group_replay = await back.messages(2)
        assert [f.get("seq") for f in group_replay] == ["2", "3"]
        # live traffic continues after the replay, with no duplicates
        await alice.send_json(f"/queue/chat/{b}", "p3", content="live")
        [live] = await back.messages(1)
        assert body(live)["content"] == "live"
        await back.no_frame(0.3)

        # reading on one device tells the sender (read receipt event)
        await alice.messages(1)
        await services.chat.conversations.mark_read(b, int(conv), 5)
        [event] = await alice.messages(1)
        assert event.get("x-event") == "read"
        assert body(event) == {"event": "read", "conversationId": int(conv), "userId": b, "seq": 5}
    finally:
        for client in clients:
            await client.close()


async def test_non_member_cannot_subscribe_to_group(node: Node) -> None:
    services = node.services
    assert services is not None
    (a, _ta), (_c, tc) = await users(node, "alice", "carol")
    group = await services.groups.create(a, name="Closed")
    carol = await connected(node.ports.tcp, tc)
    try:
        await carol.send_frame(
            "SUBSCRIBE", {"destination": f"/topic/chat/{group['id']}", "id": "g", "receipt": "r"}
        )
        reply = await carol.frame()
        assert reply.command is Command.ERROR and "forbidden" in (reply.get("message") or "")
    finally:
        await carol.close()
