"""Chat send path at the service and broker-handler level, on SQLite and MariaDB.

Social rules come from the in-memory implementation in _chat_support (real
behaviour, plain dicts); storage is the real database of the `db` fixture.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from _chat_support import Clock, Recorder, RecordingPublisher, Social

from stompim.broker.auth import Principal
from stompim.config import ImConfig
from stompim.im.chat import ChatService
from stompim.im.errors import (
    BAD_REQUEST,
    BLOCKED,
    FORBIDDEN,
    GROUP_MUTED,
    GROUP_NOT_FOUND,
    MESSAGE_TOO_LONG,
    NOT_FRIENDS,
    NOT_GROUP_MEMBER,
    ImError,
)
from stompim.stomp.chat import ChatDestinationHandler

GROUP = 100


def P(user_id: int) -> Principal:
    """A principal as the broker hands it."""
    return Principal(user_id, f"user{user_id}")


@dataclass
class Env:
    db: Any
    social: Social
    pub: RecordingPublisher
    clock: Clock
    chat: ChatService
    handler: ChatDestinationHandler


def make_env(db: Any, recorder: Recorder | None = None, **im: Any) -> Env:
    social = Social()
    for uid in (1, 2, 3, 4, 5):
        social.add_user(uid)
    social.befriend(1, 2)
    social.befriend(1, 3)
    social.add_group(GROUP, owner=1, members=[2, 3])
    pub = RecordingPublisher(recorder)
    clock = Clock()
    chat = ChatService(
        config=ImConfig(**im), db=db, publisher=pub, friends=social, groups=social,
        users=social, clock=clock,
    )
    return Env(db, social, pub, clock, chat, ChatDestinationHandler(chat))


@pytest.fixture
def env(db: Any) -> Env:
    return make_env(db)


def js(**fields: Any) -> bytes:
    return orjson.dumps(fields)


async def send(env: Env, uid: int, dest: str, headers: dict[str, str] | None = None,
               **fields: Any) -> dict[str, str]:
    return dict(await env.handler.on_send(P(uid), dest, headers or {}, js(**fields)))


async def count(db: Any, table: str) -> int:
    return int(await db.fetch_val(f"SELECT COUNT(*) FROM {table}"))


# -- private --------------------------------------------------------------------------
async def test_private_round_trip(env: Env) -> None:
    receipt = await send(env, 1, "/queue/chat/2", content="hello", clientMsgId="c-1")
    assert receipt["seq"] == "1"
    row = await env.db.fetch_one(
        "SELECT * FROM chat_message WHERE id = ?", (int(receipt["message-id"]),)
    )
    assert row is not None and row["content"] == "hello" and row["seq"] == 1
    assert int(receipt["conversation-id"]) == row["conversation_id"]

    to_peer = env.pub.to("/queue/chat/2")
    to_self = env.pub.to("/queue/chat/1")
    assert len(to_peer) == 1 and len(to_self) == 1
    body, headers = to_peer[0]
    assert body == {
        "id": row["id"],
        "seq": 1,
        "conversationId": row["conversation_id"],
        "chatType": "private",
        "fromUserId": 1,
        "toUserId": 2,
        "type": "text",
        "content": "hello",
        "extra": None,
        "clientMsgId": "c-1",
        "createdAt": row["created_at"],
        "status": 0,
    }
    assert headers["message-id"] == headers["x-message-id"] == receipt["message-id"]
    assert headers["conversation-id"] == receipt["conversation-id"]
    assert headers["content-type"] == "application/json"
    # on the multiplexed per-user queue the ordering header is the place in that user's
    # inbox (the sender's own copy takes the next place of the sender's inbox)
    assert headers["seq"] == headers["x-inbox-seq"] == "1"
    assert headers["x-conversation-seq"] == "1"
    assert to_self[0][1]["seq"] == "1"

    # the reply lands in the same conversation with the next seq, and the next place
    # of both inboxes
    reply = await send(env, 2, "/queue/chat/1", content="hi")
    assert reply["conversation-id"] == receipt["conversation-id"] and reply["seq"] == "2"
    assert env.pub.to("/queue/chat/1")[-1][1]["seq"] == "2"
    assert env.pub.to("/queue/chat/2")[-1][1]["seq"] == "2"


@pytest.mark.parametrize("field", ["toUserId", "receiverId", "targetId"])
async def test_app_private_accepts_target_aliases(env: Env, field: str) -> None:
    receipt = await env.handler.on_send(
        P(1), "/app/chat/private", {}, js(**{field: 2, "type": "text", "content": "x"})
    )
    assert receipt["seq"] == "1"
    assert env.pub.to("/queue/chat/2")[0][0]["toUserId"] == 2


async def test_media_message_with_extra(env: Env) -> None:
    extra = {"url": "http://f/1.png", "name": "1.png", "size": 1234, "width": 640, "height": 480}
    await send(env, 1, "/app/chat/private", toUserId=2, type="image", extra=extra)
    body = env.pub.to("/queue/chat/2")[0][0]
    assert body["type"] == "image" and body["extra"] == extra and body["content"] == ""
    hist = await env.chat.history(2, body["conversationId"])
    assert hist[0]["extra"] == extra


async def test_plain_text_body_on_chat_queue(env: Env) -> None:
    receipt = await env.handler.on_send(P(1), "/queue/chat/2", {}, b"plain words")
    assert receipt["seq"] == "1"
    assert env.pub.to("/queue/chat/2")[0][0]["content"] == "plain words"


# -- group ----------------------------------------------------------------------------
async def test_group_round_trip(env: Env) -> None:
    first = await send(env, 2, f"/topic/chat/{GROUP}", content="one")
    second = await env.handler.on_send(
        P(3), "/app/chat/group", {}, js(groupId=GROUP, content="two")
    )
    assert (first["seq"], second["seq"]) == ("1", "2")
    assert first["conversation-id"] == second["conversation-id"]
    got = env.pub.to(f"/topic/chat/{GROUP}")
    assert [b["content"] for b, _ in got] == ["one", "two"]
    assert [h["seq"] for _, h in got] == ["1", "2"]
    assert got[0][0]["chatType"] == "group" and got[0][0]["groupId"] == GROUP
    assert "toUserId" not in got[0][0]
    # nothing went to private queues
    assert not [d for d, _, _ in env.pub.published if d.startswith("/queue/")]


# -- persistence before acknowledgement --------------------------------------------------
class CheckingRecorder(Recorder):
    """At publish time (i.e. before the receipt) look the row up on the database
    through a plain query: it must be there, committed."""

    def __init__(self, db: Any) -> None:
        super().__init__()
        self.db = db
        self.seen: list[bool] = []

    async def publish(self, destination: str, body: bytes, headers: Any = None) -> None:
        mid = orjson.loads(body)["id"]
        row = await self.db.fetch_one("SELECT id FROM chat_message WHERE id = ?", (mid,))
        self.seen.append(row is not None)
        await super().publish(destination, body, headers)


async def test_row_is_committed_before_publish_and_receipt(db: Any) -> None:
    checker = CheckingRecorder(db)
    env = make_env(db, checker)
    receipt = await send(env, 1, "/queue/chat/2", content="x")
    assert checker.seen == [True, True]
    assert (
        await db.fetch_val(
            "SELECT COUNT(*) FROM chat_message WHERE id = ?", (int(receipt["message-id"]),)
        )
        == 1
    )


async def test_failed_store_gives_no_receipt_and_no_seq(env: Env) -> None:
    # a client message id too long for the column is refused before anything is stored
    with pytest.raises(ImError) as err:
        await send(env, 1, "/queue/chat/2", content="x", clientMsgId="z" * 65)
    assert err.value.code == BAD_REQUEST
    assert await count(env.db, "chat_message") == 0
    assert env.pub.published == []


# -- duplicates -----------------------------------------------------------------------
async def test_resent_client_msg_id_is_stored_once(env: Env) -> None:
    first = await send(env, 1, "/queue/chat/2", content="once", clientMsgId="dup-1")
    again = await send(env, 1, "/queue/chat/2", content="once", clientMsgId="dup-1")
    by_header = await send(env, 1, "/queue/chat/2", {"x-client-msg-id": "dup-1"}, content="once")
    assert again["message-id"] == first["message-id"] == by_header["message-id"]
    assert again["seq"] == "1" and again["x-duplicate"] == "true"
    assert "x-duplicate" not in first
    assert await count(env.db, "chat_message") == 1
    assert len(env.pub.to("/queue/chat/2")) == 1  # not re-broadcast
    conv = await env.db.fetch_one("SELECT last_seq FROM chat_conversation")
    assert conv["last_seq"] == 1


async def test_concurrent_resends_store_one_copy(env: Env) -> None:
    receipts = await asyncio.gather(
        *[send(env, 2, f"/topic/chat/{GROUP}", content="race", clientMsgId="r-1") for _ in range(5)]
    )
    assert len({r["message-id"] for r in receipts}) == 1
    assert await count(env.db, "chat_message") == 1
    assert len(env.pub.to(f"/topic/chat/{GROUP}")) == 1
    assert (await env.db.fetch_one("SELECT last_seq FROM chat_conversation"))["last_seq"] == 1


async def test_client_msg_id_scoped_to_sender(env: Env) -> None:
    a = await send(env, 1, "/queue/chat/2", content="a", clientMsgId="same")
    b = await send(env, 2, "/queue/chat/1", content="b", clientMsgId="same")
    assert a["message-id"] != b["message-id"] and b["seq"] == "2"


# -- refusals -------------------------------------------------------------------------
async def refused(env: Env, uid: int, dest: str, **fields: Any) -> int:
    with pytest.raises(ImError) as err:
        await send(env, uid, dest, **fields)
    return err.value.code


async def test_private_refusals(env: Env) -> None:
    assert await refused(env, 1, "/queue/chat/4", content="x") == NOT_FRIENDS
    env.social.blocks.add((2, 1))  # the recipient blocked the sender
    assert await refused(env, 1, "/queue/chat/2", content="x") == BLOCKED
    env.social.blocks = {(1, 2)}  # the sender blocked the recipient
    assert await refused(env, 1, "/queue/chat/2", content="x") == BLOCKED
    assert await refused(env, 1, "/queue/chat/1", content="me") == BAD_REQUEST
    assert await count(env.db, "chat_message") == 0
    assert env.pub.published == []


async def test_stranger_chat_when_configured(db: Any) -> None:
    env = make_env(db, allow_stranger_chat=True)
    assert (await send(env, 1, "/queue/chat/4", content="hi"))["seq"] == "1"
    env.social.blocks.add((4, 1))
    assert await refused(env, 1, "/queue/chat/4", content="x") == BLOCKED
    assert await refused(env, 1, "/queue/chat/999", content="x") == 1004  # no such user


async def test_group_refusals(env: Env) -> None:
    assert await refused(env, 4, f"/topic/chat/{GROUP}", content="x") == NOT_GROUP_MEMBER
    assert await refused(env, 1, "/topic/chat/555", content="x") == GROUP_NOT_FOUND
    env.social.set_member(GROUP, 2, muted=True)
    assert await refused(env, 2, f"/topic/chat/{GROUP}", content="x") == GROUP_MUTED
    env.social.groups[GROUP] = env.social.groups[GROUP].__class__(
        GROUP, "G", all_muted=True, owner_id=1
    )
    assert await refused(env, 3, f"/topic/chat/{GROUP}", content="x") == GROUP_MUTED
    # all-muted does not silence the owner (or admins)
    assert (await send(env, 1, f"/topic/chat/{GROUP}", content="owner speaks"))["seq"] == "1"
    env.social.set_member(GROUP, 3, role=1)
    assert (await send(env, 3, f"/topic/chat/{GROUP}", content="admin speaks"))["seq"] == "2"


async def test_validation_refusals(env: Env) -> None:
    limit = env.chat.config.max_message_length
    assert await refused(env, 1, "/queue/chat/2", content="x" * (limit + 1)) == MESSAGE_TOO_LONG
    assert (await send(env, 1, "/queue/chat/2", content="x" * limit))["seq"] == "1"
    assert await refused(env, 1, "/queue/chat/2", type="sticker", content="x") == BAD_REQUEST
    assert await refused(env, 1, "/queue/chat/2", type="text", content="  ") == BAD_REQUEST
    assert await refused(env, 1, "/queue/chat/2", type="image") == BAD_REQUEST
    assert (
        await refused(env, 1, "/queue/chat/2", type="image", extra={"size": "big"}) == BAD_REQUEST
    )
    assert await refused(env, 1, "/app/chat/private", content="no target") == BAD_REQUEST
    assert await refused(env, 1, "/app/chat/group", groupId="abc", content="x") == BAD_REQUEST
    with pytest.raises(ImError) as err:
        await env.handler.on_send(P(1), "/app/chat/private", {}, b"not json")
    assert err.value.code == BAD_REQUEST


async def test_custom_length_limit(db: Any) -> None:
    env = make_env(db, max_message_length=10)
    assert await refused(env, 1, "/queue/chat/2", content="x" * 11) == MESSAGE_TOO_LONG


# -- subscribe and replay -----------------------------------------------------------------
async def test_handles_and_subscribe_rules(env: Env) -> None:
    h = env.handler
    assert (
        h.handles("/queue/chat/2") and h.handles("/topic/chat/1") and h.handles("/app/chat/group")
    )
    assert not h.handles("/topic/news") and not h.handles("/queue/notification/1")
    await h.authorize_subscribe(P(2), "/queue/chat/2")
    await h.authorize_subscribe(P(2), f"/topic/chat/{GROUP}")
    for principal, dest, code in [
        (P(1), "/queue/chat/2", FORBIDDEN),
        (P(4), f"/topic/chat/{GROUP}", NOT_GROUP_MEMBER),
        (P(1), "/topic/chat/777", GROUP_NOT_FOUND),
        (P(1), "/topic/chat/abc", BAD_REQUEST),
    ]:
        with pytest.raises(ImError) as err:
            await h.authorize_subscribe(principal, dest)
        assert err.value.code == code, dest


async def test_group_replay_after_seq(env: Env) -> None:
    for i in range(5):
        await send(env, 1 + i % 3, f"/topic/chat/{GROUP}", content=f"m{i}")
    frames = await env.handler.replay(P(2), f"/topic/chat/{GROUP}", 2)
    assert [h["seq"] for h, _ in frames] == ["3", "4", "5"]
    assert [orjson.loads(b)["content"] for _, b in frames] == ["m2", "m3", "m4"]
    # replayed frames carry the same headers as live ones
    live = env.pub.to(f"/topic/chat/{GROUP}")
    assert frames[0][0] == live[2][1]
    assert await env.handler.replay(P(2), f"/topic/chat/{GROUP}", 5) == []
    with pytest.raises(ImError):
        await env.handler.replay(P(4), f"/topic/chat/{GROUP}", 0)


async def test_private_replay_by_inbox_seq_across_conversations(env: Env) -> None:
    a = await send(env, 1, "/queue/chat/2", content="1->2")
    await send(env, 1, "/queue/chat/3", content="1->3 (not user 2's)")
    b = await send(env, 2, "/queue/chat/1", content="2->1")
    await send(env, 3, f"/topic/chat/{GROUP}", content="group, not private")
    frames = await env.handler.replay(P(2), "/queue/chat/2", 0)
    assert [orjson.loads(body)["content"] for _, body in frames] == ["1->2", "2->1"]
    # user 2's inbox: places 1 and 2, although message ids 1 and 3
    assert [h["seq"] for h, _ in frames] == ["1", "2"]
    assert [h["message-id"] for h, _ in frames] == [a["message-id"], b["message-id"]]
    later = await env.handler.replay(P(2), "/queue/chat/2", 1)
    assert [h["x-message-id"] for h, _ in later] == [b["message-id"]]
    # user 1 resumes across both of their conversations: sent and received, in order
    mine = await env.handler.replay(P(1), "/queue/chat/1", 0)
    assert [h["seq"] for h, _ in mine] == ["1", "2", "3"]
    assert await env.handler.head(P(1), "/queue/chat/1") == 3
    assert await env.handler.head(P(3), "/queue/chat/3") == 1
    with pytest.raises(ImError):
        await env.handler.replay(P(1), "/queue/chat/2", 0)


async def test_concurrent_sends_get_distinct_consecutive_seqs(env: Env) -> None:
    env.social.add_group(GROUP, owner=1, members=[2, 3, 4, 5])
    for peer in (2, 3):
        env.social.befriend(peer, 4)

    async def burst(uid: int, n: int) -> list[dict[str, str]]:
        return [
            await send(env, uid, f"/topic/chat/{GROUP}", content=f"{uid}-{i}") for i in range(n)
        ]

    group_receipts = await asyncio.gather(*[burst(uid, 8) for uid in (1, 2, 3, 4, 5)])
    private = await asyncio.gather(
        *[send(env, uid, "/queue/chat/4", content=f"p{i}") for i in range(6) for uid in (2, 3)]
    )
    seqs = sorted(int(r["seq"]) for batch in group_receipts for r in batch)
    assert seqs == list(range(1, 41))
    by_conv: dict[str, list[int]] = {}
    for r in private:
        by_conv.setdefault(r["conversation-id"], []).append(int(r["seq"]))
    assert sorted(sorted(v) for v in by_conv.values()) == [list(range(1, 7))] * 2
    assert await count(env.db, "chat_message") == 52
