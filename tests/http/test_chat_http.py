"""REST for chat: /api/conversation/* and /api/message/*, over the real services
(accounts, friends, groups, chat) and a real aiohttp server, on SQLite and MariaDB.
Messages are sent through the broker handler exactly as a STOMP SEND would be."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from stompim.im.clock import now_ms
from stompim.im.errors import ImError
from stompim.stomp.chat import ChatDestinationHandler


@dataclass(frozen=True)
class P:
    user_id: int


async def setup(client: Any) -> tuple[dict[str, Any], dict[str, tuple[int, str]]]:
    users = {}
    for name in ("alice", "bob", "carol"):
        user, token = await client.user(name)
        users[name] = (int(user["id"]), token)
    a, b, _c = users["alice"][0], users["bob"][0], users["carol"][0]
    friends = client.services.friends
    await friends.send_request(a, b)
    await friends.send_request(b, a)  # crossing requests make them friends
    assert await friends.is_friend(a, b)
    group = await client.services.groups.create(a, name="Team", member_ids=[b])
    return group, users


async def stomp_send(client: Any, uid: int, dest: str, **fields: Any) -> dict[str, str]:
    handler = ChatDestinationHandler(client.services.chat)
    return dict(await handler.begin_send(P(uid), dest, {}, orjson.dumps(fields)))


async def test_conversations_read_history_recall(client: Any) -> None:
    group, users = await setup(client)
    (a, ta), (b, tb), (_c, tc) = users["alice"], users["bob"], users["carol"]
    gid = int(group["id"])
    r1 = await stomp_send(client, b, f"/queue/chat/{a}", content="hi alice")
    await stomp_send(client, b, "/app/chat/private", toUserId=a, content="still there?")
    # The list orders by last activity (ms), then by conversation id; sends this fast can
    # share a millisecond, so the group's message starts in the next one.
    started = now_ms()
    await asyncio.sleep(0.002)
    assert now_ms() > started
    r3 = await stomp_send(client, b, "/app/chat/group", groupId=gid, content="hello team")
    conv_private, conv_group = int(r1["conversation-id"]), int(r3["conversation-id"])

    reply = await client.call("GET", "/api/conversation/list", token=ta)
    assert reply.status == 200
    items = reply.data["list"]
    assert [(i["chatType"], i["targetId"]) for i in items] == [("group", gid), ("private", b)]
    assert items[0]["name"] == "Team" and items[1]["name"] == "bob"
    assert items[1]["unreadCount"] == 2 and items[1]["lastMessage"]["content"] == "still there?"
    assert (await client.call("GET", "/api/conversation/unread-total", token=ta)).data == 3

    page = await client.call("GET", "/api/conversation/list", params={"limit": "1"}, token=ta)
    assert len(page.data["list"]) == 1 and page.data["hasMore"] is True
    rest = await client.call("GET", "/api/conversation/list", token=ta,
                             params={"limit": "1", "cursor": page.data["nextCursor"]})
    assert [i["conversationId"] for i in rest.data["list"]] == [conv_private]

    read = await client.call("POST", "/api/message/read", token=ta,
                             json={"conversationId": conv_private, "seq": 2})
    assert read.data == {"conversationId": conv_private, "readSeq": 2, "unreadCount": 0}
    assert (await client.call("GET", "/api/conversation/unread-total", token=ta)).data == 1
    events = [orjson.loads(body) for dest, body in client.publisher.published
              if dest == f"/queue/chat/{b}" and b'"event"' in body]
    assert events == [{"event": "read", "conversationId": conv_private, "userId": a, "seq": 2}]

    hist = await client.call("GET", "/api/message/history", token=ta,
                             params={"conversationId": str(conv_private), "limit": "10"})
    assert [m["content"] for m in hist.data] == ["hi alice", "still there?"]
    older = await client.call("GET", "/api/message/history", token=ta,
                              params={"conversationId": str(conv_private), "beforeSeq": "2"})
    assert [m["seq"] for m in older.data] == [1]

    recall = await client.call("POST", f"/api/message/{r1['message-id']}/recall", token=tb)
    assert recall.status == 200 and recall.data["status"] == 1 and recall.data["content"] == ""
    hist = await client.call("GET", "/api/message/history", token=ta,
                             params={"conversationId": str(conv_private)})
    assert hist.data[0]["status"] == 1 and hist.data[0]["content"] == ""

    # outsiders and bad input
    denied = await client.call("GET", "/api/message/history", token=tc,
                               params={"conversationId": str(conv_group)})
    assert (denied.status, denied.code) == (404, 3005)
    denied = await client.call("POST", f"/api/message/{r3['message-id']}/recall", token=tc)
    assert denied.code == 3002
    not_sender = await client.call("POST", f"/api/message/{r3['message-id']}/recall", token=ta)
    assert not_sender.status == 200  # alice owns the group: admins may recall any message
    bad = await client.call("GET", "/api/message/history", token=ta,
                            params={"conversationId": str(conv_private), "limit": "500"})
    assert (bad.status, bad.code) == (400, 9001)
    missing = await client.call("GET", "/api/message/history", token=ta)
    assert missing.status == 400
    anonymous = await client.call("GET", "/api/conversation/list")
    assert anonymous.status == 401


async def test_hide_and_mute_over_rest(client: Any) -> None:
    group, users = await setup(client)
    (a, ta), (b, _tb) = users["alice"], users["bob"]
    r = await stomp_send(client, b, f"/queue/chat/{a}", content="one")
    conv = int(r["conversation-id"])
    g = await stomp_send(client, b, f"/topic/chat/{group['id']}", content="g")
    hidden = await client.call("DELETE", f"/api/conversation/{conv}", token=ta)
    assert hidden.status == 200
    items = (await client.call("GET", "/api/conversation/list", token=ta)).data["list"]
    assert conv not in [i["conversationId"] for i in items]
    await stomp_send(client, b, f"/queue/chat/{a}", content="two")
    items = (await client.call("GET", "/api/conversation/list", token=ta)).data["list"]
    assert conv in [i["conversationId"] for i in items]
    assert (await client.call("GET", "/api/conversation/unread-total", token=ta)).data == 2

    muted = await client.call("PUT", f"/api/conversation/{g['conversation-id']}/mute",
                              token=ta, json={"muted": True})
    assert muted.status == 200
    assert (await client.call("GET", "/api/conversation/unread-total", token=ta)).data == 1
    await client.services.friends.set_muted(a, b, True)
    assert (await client.call("GET", "/api/conversation/unread-total", token=ta)).data == 0
    foreign = await client.call("DELETE", "/api/conversation/999999", token=ta)
    assert (foreign.status, foreign.code) == (404, 3005)


async def test_real_social_rules_refuse(client: Any) -> None:
    group, users = await setup(client)
    (a, _), (b, _), (c, _) = users["alice"], users["bob"], users["carol"]
    handler = ChatDestinationHandler(client.services.chat)
    await client.services.friends.block(b, a)
    for uid, dest, code in [
        (c, f"/queue/chat/{a}", 2003),
        (c, f"/topic/chat/{group['id']}", 4002),
        (a, f"/queue/chat/{b}", 2005),
    ]:
        with pytest.raises(ImError) as err:
            await handler.begin_send(P(uid), dest, {}, b'{"content":"x"}')
        assert err.value.code == code, dest


async def test_openapi_lists_chat_endpoints(client: Any) -> None:
    async with client.client.get("/api/docs") as resp:
        assert resp.status == 200
        doc = await resp.json()
    paths = doc["paths"]
    for path, method in [
        ("/api/conversation/list", "get"), ("/api/conversation/unread-total", "get"),
        ("/api/conversation/{conversationId}", "delete"),
        ("/api/conversation/{conversationId}/mute", "put"),
        ("/api/message/history", "get"), ("/api/message/read", "post"),
        ("/api/message/{messageId}/recall", "post"),
    ]:
        assert method in paths[path], path
    assert "ChatMessage" in doc["components"]["schemas"]
