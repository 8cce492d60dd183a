"""Chat over the real social services (FriendService, GroupService) and real tables.

The O(1)-writes property is proved here against real group_member rows: 10 vs
1,000 members (bulk-inserted directly), counting write statements through a
wrapper around the real database and counting rows in the chat tables.
"""

from __future__ import annotations

from typing import Any

from _chat_support import Clock, CountingDatabase, RecordingPublisher

from stompim.config import ImConfig
from stompim.im.chat import ChatService
from stompim.im.friends import FriendService
from stompim.im.groups import GroupService
from stompim.im.messages import MessageDraft
from stompim.im.notifications import NotificationService
from stompim.store.users import UserRepository

CHAT_TABLES = ("chat_message", "chat_cursor", "chat_conversation")


def text(content: str) -> MessageDraft:
    return MessageDraft(type="text", content=content, extra=None, client_msg_id=None)


def services(db: Any, clock: Clock) -> tuple[ChatService, GroupService]:
    pub = RecordingPublisher()
    notifications = NotificationService(db, pub)
    groups = GroupService(db, pub, notifications, max_group_size=5000)
    friends = FriendService(db, notifications)
    chat = ChatService(config=ImConfig(), db=db, publisher=pub, friends=friends, groups=groups,
                       users=UserRepository(db), clock=clock)
    return chat, groups


async def group_with_members(db: Any, groups: GroupService, name: str, size: int,
                             joined_at: int) -> tuple[int, list[int]]:
    owner = await UserRepository(db).create(username=name, password_hash="x", nickname=name)
    gid = int((await groups.create(owner.id, name=name))["id"])
    others = list(range(1_000_000 + gid * 10_000, 1_000_000 + gid * 10_000 + size - 1))
    await db.executemany(
        "INSERT INTO group_member (group_id, user_id, role, nickname, muted, status, joined_at,"
        " updated_at) VALUES (?, ?, 0, '', 0, 1, ?, ?)",
        [(gid, uid, joined_at, joined_at) for uid in others],
    )
    return gid, [owner.id, *others]


async def rows(db: Any) -> dict[str, int]:
    return {t: int(await db.fetch_val(f"SELECT COUNT(*) FROM {t}")) for t in CHAT_TABLES}


async def test_group_send_cost_is_independent_of_group_size(db: Any) -> None:
    clock = Clock()
    counting = CountingDatabase(db)
    chat, groups = services(counting, clock)
    measured = []
    for name, size in (("small", 10), ("large", 1000)):
        gid, members = await group_with_members(db, groups, name, size, joined_at=0)
        assert len(await groups.member_ids(gid)) == size
        await chat.send_group(members[0], gid, text("warm-up"))  # creates the conversation
        before = await rows(db)
        counting.writes = 0
        for i in range(5):
            await chat.send_group(members[1 + i % 3], gid, text(f"m{i}"))
        after = await rows(db)
        measured.append((counting.writes, {t: after[t] - before[t] for t in CHAT_TABLES}))
    (small_writes, small_rows), (large_writes, large_rows) = measured
    assert small_writes == large_writes <= 5 * 3
    assert small_rows == large_rows == {"chat_message": 5, "chat_cursor": 3, "chat_conversation": 0}


async def test_member_joining_later_has_no_earlier_unread(db: Any) -> None:
    clock = Clock()
    chat, groups = services(db, clock)
    gid, members = await group_with_members(db, groups, "team", 3, joined_at=0)
    for i in range(4):
        await chat.send_group(members[1], gid, text(f"before {i}"))
    clock.advance(10)
    late = 4242
    await db.execute(
        "INSERT INTO group_member (group_id, user_id, role, nickname, muted, status, joined_at,"
        " updated_at) VALUES (?, ?, 0, '', 0, 1, ?, ?)", (gid, late, clock.now, clock.now),
    )
    clock.advance(10)
    page = await chat.conversations.list(late)
    assert [(i["targetId"], i["unreadCount"]) for i in page["list"]] == [(gid, 0)]
    await chat.send_group(members[1], gid, text("after"))
    assert await chat.conversations.unread_total(late) == 1
    assert await chat.conversations.unread_total(members[2]) == 5
    # leaving the group removes the conversation from the list and history access
    await groups.quit(late, gid)
    assert (await chat.conversations.list(late))["list"] == []
