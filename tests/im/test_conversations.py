"""Conversation list, unread counts, read markers, hiding, history, recall and the
O(1)-writes property of a group send, on SQLite and MariaDB."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _chat_support import Clock, CountingDatabase, RecordingPublisher, Social
from test_chat import GROUP, Env, make_env, send

from stompim.config import ImConfig
from stompim.im.chat import ChatService
from stompim.im.errors import (
    BAD_REQUEST,
    CONVERSATION_NOT_FOUND,
    FORBIDDEN,
    MESSAGE_NOT_FOUND,
    RECALL_WINDOW_PASSED,
    ImError,
)
from stompim.im.messages import MessageDraft


@pytest.fixture
def env(db: Any) -> Env:
    return make_env(db)


def text(content: str, cid: str | None = None) -> MessageDraft:
    return MessageDraft(type="text", content=content, extra=None, client_msg_id=cid)


async def listing(env: Env, uid: int, **kw: Any) -> dict[int, dict[str, Any]]:
    page = await env.chat.conversations.list(uid, **kw)
    return {item["targetId"]: item for item in page["list"]}


# -- list and unread ------------------------------------------------------------------
async def test_list_order_fields_and_unread(env: Env) -> None:
    await send(env, 2, "/queue/chat/1", content="from 2")
    await send(env, 2, "/queue/chat/1", content="again from 2")
    await send(env, 3, f"/topic/chat/{GROUP}", content="group hello")
    await send(env, 1, "/queue/chat/3", content="to 3")
    page = await env.chat.conversations.list(1)
    items = page["list"]
    assert [(i["chatType"], i["targetId"]) for i in items] == [
        ("private", 3), ("group", GROUP), ("private", 2)
    ]
    assert page["nextCursor"] is None and page["hasMore"] is False
    by_target = {i["targetId"]: i for i in items}
    two = by_target[2]
    assert two["name"] == "User 2" and two["avatar"] == "http://a/2.png"
    assert two["unreadCount"] == 2 and two["muted"] is False
    assert two["lastMessage"]["content"] == "again from 2" and two["lastMessage"]["seq"] == 2
    assert by_target[3]["unreadCount"] == 0  # own message advanced the sender's cursor
    assert by_target[GROUP]["name"] == f"Group {GROUP}" and by_target[GROUP]["unreadCount"] == 1
    assert items[0]["updatedAt"] >= items[1]["updatedAt"] >= items[2]["updatedAt"]
    assert await env.chat.conversations.unread_total(1) == 3
    # the peer's view of the same private conversation
    assert (await listing(env, 2))[1]["unreadCount"] == 0
    assert (await listing(env, 2))[1]["name"] == "User 1"


async def test_keyset_paging(env: Env) -> None:
    for peer in (2, 3):
        await send(env, 1, f"/queue/chat/{peer}", content="x")
    await send(env, 1, f"/topic/chat/{GROUP}", content="x")
    env.social.befriend(1, 4)
    env.social.befriend(1, 5)
    for peer in (4, 5):
        await send(env, 1, f"/queue/chat/{peer}", content="x")
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        page = await env.chat.conversations.list(1, cursor=cursor, limit=2)
        seen += [i["conversationId"] for i in page["list"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and len(set(seen)) == 5
    full = [i["conversationId"] for i in (await env.chat.conversations.list(1, limit=50))["list"]]
    assert seen == full
    with pytest.raises(ImError):
        await env.chat.conversations.list(1, cursor="garbage")


async def test_read_marker_two_devices_and_peer(env: Env) -> None:
    for i in range(4):
        receipt = await send(env, 2, "/queue/chat/1", content=f"m{i}")
    conv = int(receipt["conversation-id"])
    env.pub.clear()
    res = await env.chat.conversations.mark_read(1, conv, 3)
    assert (res.read_seq, res.unread, res.advanced) == (3, 1, True)
    # the reader's devices and the peer hear about it, as a read event without a seq header
    for uid in (1, 2):
        [(body, headers)] = env.pub.to(f"/queue/chat/{uid}")
        assert body == {"event": "read", "conversationId": conv, "userId": 1, "seq": 3}
        assert headers["x-event"] == "read" and "seq" not in headers
    # a second device reporting an older position does not move the cursor back
    env.pub.clear()
    res = await env.chat.conversations.mark_read(1, conv, 1)
    assert (res.read_seq, res.unread, res.advanced) == (3, 1, False)
    assert env.pub.published == []
    assert (await listing(env, 1))[2]["unreadCount"] == 1
    # beyond the end is clamped to last_seq
    res = await env.chat.conversations.mark_read(1, conv, 99)
    assert (res.read_seq, res.unread) == (4, 0)
    assert await env.chat.conversations.unread_total(1) == 0
    with pytest.raises(ImError) as err:
        await env.chat.conversations.mark_read(4, conv, 1)
    assert err.value.code == CONVERSATION_NOT_FOUND
    with pytest.raises(ImError):
        await env.chat.conversations.mark_read(1, conv, -1)


async def test_group_read_event_goes_to_reader_only(env: Env) -> None:
    receipt = await send(env, 2, f"/topic/chat/{GROUP}", content="g")
    env.pub.clear()
    await env.chat.conversations.mark_read(3, int(receipt["conversation-id"]), 1)
    assert [d for d, _, _ in env.pub.published] == ["/queue/chat/3"]


async def test_hide_and_reappear(env: Env) -> None:
    receipt = await send(env, 2, "/queue/chat/1", content="hello")
    conv = int(receipt["conversation-id"])
    await env.chat.conversations.hide(1, conv)
    assert 2 not in await listing(env, 1)
    assert 1 in await listing(env, 2)  # hidden only for user 1
    assert await env.chat.conversations.unread_total(1) == 0
    await send(env, 2, "/queue/chat/1", content="are you there?")
    item = (await listing(env, 1))[2]
    assert item["unreadCount"] == 1 and item["lastMessage"]["content"] == "are you there?"
    with pytest.raises(ImError):
        await env.chat.conversations.hide(4, conv)


async def test_muted_conversations_excluded_from_unread_total(env: Env) -> None:
    await send(env, 2, "/queue/chat/1", content="a")
    receipt = await send(env, 3, f"/topic/chat/{GROUP}", content="b")
    await send(env, 3, "/queue/chat/1", content="c")
    assert await env.chat.conversations.unread_total(1) == 3
    env.social.mutes.add((1, 2))  # friend do-not-disturb
    assert await env.chat.conversations.unread_total(1) == 2
    assert (await listing(env, 1))[2]["muted"] is True
    await env.chat.conversations.set_muted(1, int(receipt["conversation-id"]), True)
    assert await env.chat.conversations.unread_total(1) == 1
    assert (await listing(env, 1))[GROUP]["muted"] is True
    assert (await listing(env, 1))[GROUP]["unreadCount"] == 1  # still counted per conversation


async def test_late_joiner_sees_no_earlier_unread(env: Env) -> None:
    for i in range(3):
        await send(env, 2, f"/topic/chat/{GROUP}", content=f"before {i}")
    env.clock.advance(10)
    env.social.add_group(GROUP, owner=1, members=[2, 3, 4], joined_at=0)
    env.social.set_member(GROUP, 4, joined_at=env.clock.now)
    env.clock.advance(10)
    assert (await listing(env, 4))[GROUP]["unreadCount"] == 0
    await send(env, 2, f"/topic/chat/{GROUP}", content="after")
    assert (await listing(env, 4))[GROUP]["unreadCount"] == 1
    assert await env.chat.conversations.unread_total(4) == 1
    # leaves, misses messages, joins again: the missed ones are not unread either
    del env.social.members[(GROUP, 4)]
    assert GROUP not in await listing(env, 4)
    await send(env, 2, f"/topic/chat/{GROUP}", content="while away")
    env.clock.advance(10)
    env.social.members[(GROUP, 4)] = env.social.members[(GROUP, 3)].__class__(
        GROUP, 4, joined_at=env.clock.now
    )
    env.clock.advance(10)
    assert (await listing(env, 4))[GROUP]["unreadCount"] == 0
    # members who were there all along count everything
    assert (await listing(env, 3))[GROUP]["unreadCount"] == 5


# -- history ----------------------------------------------------------------------------
async def test_history_paging_over_1000_messages(env: Env) -> None:
    started = time.monotonic()
    for i in range(1000):
        result = await env.chat.send_group(1 + i % 3, GROUP, text(f"m{i}"))
    assert time.monotonic() - started < 60
    conv = result.message.conversation_id
    assert result.message.seq == 1000
    # newest first pages walking backwards with beforeSeq
    seqs: list[int] = []
    before = None
    for _ in range(20):
        page = await env.chat.history(2, conv, before_seq=before, limit=100)
        if not page:
            break
        assert [m["seq"] for m in page] == sorted(m["seq"] for m in page)
        seqs = [m["seq"] for m in page] + seqs
        before = page[0]["seq"]
    assert seqs == list(range(1, 1001))
    # catching up forwards with afterSeq
    page = await env.chat.history(2, conv, after_seq=990, limit=100)
    assert [m["seq"] for m in page] == list(range(991, 1001))
    page = await env.chat.history(2, conv, after_seq=100, before_seq=106, limit=100)
    assert [m["seq"] for m in page] == [101, 102, 103, 104, 105]
    assert [m["content"] for m in await env.chat.history(2, conv, limit=2)] == ["m998", "m999"]
    assert len(await env.chat.history(2, conv)) == 20  # default limit
    for bad in (0, 101):
        with pytest.raises(ImError) as err:
            await env.chat.history(2, conv, limit=bad)
        assert err.value.code == BAD_REQUEST
    with pytest.raises(ImError) as err:
        await env.chat.history(4, conv)  # not a member
    assert err.value.code == CONVERSATION_NOT_FOUND


# -- recall -----------------------------------------------------------------------------
async def test_recall_within_and_after_window(env: Env) -> None:
    first = await send(env, 1, "/queue/chat/2", content="oops")
    conv, mid = int(first["conversation-id"]), int(first["message-id"])
    env.clock.advance(119_000)
    env.pub.clear()
    recalled = await env.chat.recall(1, mid)
    assert recalled["status"] == 1 and recalled["content"] == "" and recalled["extra"] is None
    row = await env.db.fetch_one("SELECT content, status FROM chat_message WHERE id = ?", (mid,))
    assert row["content"] == "" and row["status"] == 1  # cleared in the store
    for uid in (1, 2):
        [(body, headers)] = env.pub.to(f"/queue/chat/{uid}")
        assert body["event"] == "recall" and body["messageId"] == mid
        assert body["conversationId"] == conv and body["seq"] == 1
        assert headers["x-event"] == "recall" and "seq" not in headers
    [shown] = await env.chat.history(2, conv)
    assert shown["status"] == 1 and shown["content"] == ""
    assert (await listing(env, 2))[1]["lastMessage"]["status"] == 1

    late = await send(env, 1, "/queue/chat/2", content="too late")
    env.clock.advance(121_000)
    with pytest.raises(ImError) as err:
        await env.chat.recall(1, int(late["message-id"]))
    assert err.value.code == RECALL_WINDOW_PASSED
    with pytest.raises(ImError) as err:  # the recipient may not recall it
        await env.chat.recall(2, int(late["message-id"]))
    assert err.value.code == FORBIDDEN
    with pytest.raises(ImError) as err:  # outsiders cannot even see it
        await env.chat.recall(4, int(late["message-id"]))
    assert err.value.code == MESSAGE_NOT_FOUND


async def test_recall_window_is_configurable(db: Any) -> None:
    env = make_env(db, recall_window_seconds=5)
    receipt = await send(env, 1, "/queue/chat/2", content="x")
    env.clock.advance(6_000)
    with pytest.raises(ImError) as err:
        await env.chat.recall(1, int(receipt["message-id"]))
    assert err.value.code == RECALL_WINDOW_PASSED


async def test_group_admin_recalls_any_time(env: Env) -> None:
    receipt = await send(env, 3, f"/topic/chat/{GROUP}", content="rude")
    mid = int(receipt["message-id"])
    env.clock.advance(3600_000)
    with pytest.raises(ImError) as err:
        await env.chat.recall(2, mid)  # plain member
    assert err.value.code == FORBIDDEN
    env.pub.clear()
    assert (await env.chat.recall(1, mid))["status"] == 1  # the owner
    [(body, _headers)] = env.pub.to(f"/topic/chat/{GROUP}")
    assert body["event"] == "recall" and body["operatorId"] == 1
    # a second recall is a no-op, with no second event
    assert (await env.chat.recall(1, mid))["status"] == 1
    assert len(env.pub.published) == 1
    other = await send(env, 2, f"/topic/chat/{GROUP}", content="x")
    env.social.set_member(GROUP, 3, role=1)  # an admin
    assert (await env.chat.recall(3, int(other["message-id"])))["status"] == 1


# -- O(1) writes ------------------------------------------------------------------------------
async def _writes_for_group_of(db: Any, size: int, group_id: int) -> tuple[int, dict[str, int]]:
    social = Social()
    members = list(range(10_000, 10_000 + size))
    social.add_group(group_id, owner=members[0], members=members)
    counting = CountingDatabase(db)
    chat = ChatService(config=ImConfig(), db=counting, publisher=RecordingPublisher(),
                       friends=social, groups=social, users=social, clock=Clock())
    await chat.send_group(members[0], group_id, text("warm-up"))  # creates the conversation
    before = {t: int(await db.fetch_val(f"SELECT COUNT(*) FROM {t}"))
              for t in ("chat_message", "chat_cursor", "chat_conversation")}
    counting.writes = 0
    for i in range(5):
        await chat.send_group(members[1 + i % 3], group_id, text(f"m{i}"))
    after = {t: int(await db.fetch_val(f"SELECT COUNT(*) FROM {t}")) - before[t] for t in before}
    return counting.writes, after


async def test_group_send_writes_do_not_grow_with_group_size(db: Any) -> None:
    small_writes, small_rows = await _writes_for_group_of(db, 10, 201)
    big_writes, big_rows = await _writes_for_group_of(db, 1000, 202)
    assert small_writes == big_writes <= 5 * 3
    assert small_rows == big_rows
    assert small_rows["chat_message"] == 5 and small_rows["chat_conversation"] == 0
