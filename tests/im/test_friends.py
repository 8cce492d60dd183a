"""FriendService: requests, friendships, blacklist — on SQLite and MariaDB."""

from __future__ import annotations

import pytest
from _social import befriend, build, make_users

from stompim.im.errors import ImError


async def _code(coro) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(ImError) as info:
        await coro
    return info.value.code


async def test_request_is_stored_listed_and_pushed(db) -> None:
    s = build(db)
    a, b = await make_users(db, 2)
    req = await s.friends.send_request(a.id, b.id, "hello")
    assert req["status"] == 0 and req["fromUserId"] == a.id and req["toUserId"] == b.id
    received = (await s.friends.received_requests(b.id)).records
    assert [r["id"] for r in received] == [req["id"]]
    assert received[0]["fromUser"]["nickname"] == a.nickname
    assert received[0]["message"] == "hello"
    sent = (await s.friends.sent_requests(a.id)).records
    assert sent[0]["toUser"]["id"] == b.id
    assert (await s.friends.received_requests(a.id)).records == []
    assert s.publisher.types_for(b.id) == ["FRIEND_REQUEST"]
    dest, body, headers = s.publisher.published[0]
    assert dest == f"/queue/notification/{b.id}"
    assert headers == {"content-type": "application/json"}
    assert body["extra"]["requestId"] == req["id"]
    page = await s.notifications.page(b.id)
    assert page.total == 1 and page.records[0]["type"] == "FRIEND_REQUEST"


async def test_request_refusals(db) -> None:
    s = build(db)
    a, b, c = await make_users(db, 3)
    assert await _code(s.friends.send_request(a.id, a.id)) == 2004
    assert await _code(s.friends.send_request(a.id, 10**12)) == 1004
    assert await _code(s.friends.send_request(a.id, b.id, "x" * 256)) == 9001
    await s.friends.send_request(a.id, b.id)
    assert await _code(s.friends.send_request(a.id, b.id)) == 2002
    await befriend(s, a.id, c.id)
    assert await _code(s.friends.send_request(c.id, a.id)) == 2001
    assert await _code(s.friends.send_request(a.id, c.id)) == 2001


async def test_blocked_either_way_refuses_requests(db) -> None:
    s = build(db)
    a, b, c = await make_users(db, 3)
    await s.friends.block(b.id, a.id)
    assert await s.friends.is_blocked(b.id, a.id)
    assert not await s.friends.is_blocked(a.id, b.id)
    assert await s.friends.blocked_either(a.id, b.id)
    assert await _code(s.friends.send_request(a.id, b.id)) == 2005  # to someone who blocked me
    assert await _code(s.friends.send_request(b.id, a.id)) == 2005  # to someone I blocked
    # a block placed after the request stops its acceptance too
    req = await s.friends.send_request(c.id, a.id)
    await s.friends.block(a.id, c.id)
    assert await _code(s.friends.accept(a.id, req["id"])) == 2005
    listed = (await s.friends.blacklist(a.id)).records
    assert [e["userId"] for e in listed] == [c.id]
    assert listed[0]["user"]["nickname"] == c.nickname
    await s.friends.unblock(b.id, a.id)
    assert not await s.friends.blocked_either(a.id, b.id)
    await s.friends.send_request(a.id, b.id)
    assert await _code(s.friends.block(a.id, a.id)) == 2004


async def test_accept_creates_both_directions_and_notifies(db) -> None:
    s = build(db)
    a, b = await make_users(db, 2)
    req = await s.friends.send_request(a.id, b.id)
    assert await _code(s.friends.accept(a.id, req["id"])) == 2006  # only the receiver
    out = await s.friends.accept(b.id, req["id"])
    assert out["status"] == 1
    assert await s.friends.is_friend(a.id, b.id) and await s.friends.is_friend(b.id, a.id)
    again = await s.friends.accept(b.id, req["id"])  # double accept is harmless
    assert again["status"] == 1
    assert s.publisher.types_for(a.id) == ["FRIEND_ACCEPTED"]
    assert await _code(s.friends.reject(b.id, req["id"])) == 2006
    friends = await s.friends.list_friends(a.id)
    assert [(f["friendId"], f["nickname"], f["remark"], f["muted"]) for f in friends] == [
        (b.id, b.nickname, "", False)
    ]
    assert (await s.friends.sent_requests(a.id)).records[0]["status"] == 1


async def test_reject_notifies_sender_and_allows_a_new_request(db) -> None:
    s = build(db)
    a, b = await make_users(db, 2)
    req = await s.friends.send_request(a.id, b.id)
    out = await s.friends.reject(b.id, req["id"])
    assert out["status"] == 2
    assert s.publisher.types_for(a.id) == ["FRIEND_REJECTED"]
    assert not await s.friends.is_friend(a.id, b.id)
    again = await s.friends.send_request(a.id, b.id, "please")
    assert again["id"] != req["id"] and again["status"] == 0


async def test_request_to_someone_who_asked_me_accepts_theirs(db) -> None:
    s = build(db)
    a, b = await make_users(db, 2)
    req = await s.friends.send_request(a.id, b.id)
    out = await s.friends.send_request(b.id, a.id)
    assert out["id"] == req["id"] and out["status"] == 1
    assert await s.friends.is_friend(a.id, b.id) and await s.friends.is_friend(b.id, a.id)
    assert await s.friends.repo.count_pending(a.id, b.id) == 0


async def test_delete_is_soft_both_ways_and_restorable(db) -> None:
    s = build(db)
    a, b = await make_users(db, 2)
    await befriend(s, a.id, b.id)
    await s.friends.set_remark(a.id, b.id, "Bobby")
    await s.friends.delete_friend(b.id, a.id)
    assert not await s.friends.is_friend(a.id, b.id) and not await s.friends.is_friend(b.id, a.id)
    assert await s.friends.list_friends(a.id) == []
    assert await _code(s.friends.delete_friend(a.id, b.id)) == 2003
    await befriend(s, b.id, a.id)
    assert await s.friends.is_friend(a.id, b.id) and await s.friends.is_friend(b.id, a.id)
    assert len(await s.friends.list_friends(a.id)) == 1
    rows = await db.fetch_val(
        "SELECT COUNT(*) FROM friend WHERE user_id IN (?, ?)", (a.id, b.id)
    )
    assert rows == 2  # restored, not duplicated


async def test_remark_and_mute(db) -> None:
    s = build(db)
    a, b, c = await make_users(db, 3)
    await befriend(s, a.id, b.id)
    await s.friends.set_remark(a.id, b.id, "work")
    await s.friends.set_muted(a.id, b.id, True)
    assert await s.friends.friend_muted(a.id, b.id)
    assert not await s.friends.friend_muted(b.id, a.id)
    (f,) = await s.friends.list_friends(a.id)
    assert f["remark"] == "work" and f["muted"] is True
    (g,) = await s.friends.list_friends(b.id)
    assert g["remark"] == "" and g["muted"] is False
    await s.friends.set_muted(a.id, b.id, False)
    assert not await s.friends.friend_muted(a.id, b.id)
    assert await _code(s.friends.set_remark(a.id, c.id, "x")) == 2003
    assert await _code(s.friends.set_muted(a.id, c.id, True)) == 2003
    assert await _code(s.friends.set_remark(a.id, b.id, "r" * 65)) == 9001
