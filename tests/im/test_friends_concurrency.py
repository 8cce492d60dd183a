"""Friend requests under concurrency (asyncio.gather on one pool / one connection)."""

from __future__ import annotations

import asyncio

from _social import build, make_users

from stompim.im.errors import ImError


async def test_twenty_identical_requests_leave_one_pending(db) -> None:
    s = build(db)
    a, b = await make_users(db, 2)
    results = await asyncio.gather(
        *(s.friends.send_request(a.id, b.id, "hi") for _ in range(20)), return_exceptions=True
    )
    ok = [r for r in results if isinstance(r, dict)]
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) == 1
    assert all(isinstance(e, ImError) and e.code == 2002 for e in errors), errors
    assert await s.friends.repo.count_pending(a.id, b.id) == 1
    assert s.publisher.types_for(b.id) == ["FRIEND_REQUEST"]


async def test_crossed_requests_make_one_friendship(db) -> None:
    s = build(db)
    for _ in range(3):
        a, b = await make_users(db, 2)
        results = await asyncio.gather(
            s.friends.send_request(a.id, b.id), s.friends.send_request(b.id, a.id),
            return_exceptions=True,
        )
        assert all(isinstance(r, dict) for r in results), results
        assert await s.friends.is_friend(a.id, b.id) and await s.friends.is_friend(b.id, a.id)
        assert await s.friends.repo.count_pending(a.id, b.id) == 0
        count = await db.fetch_val(
            "SELECT COUNT(*) FROM friend WHERE (user_id = ? AND friend_id = ?)"
            " OR (user_id = ? AND friend_id = ?)", (a.id, b.id, b.id, a.id),
        )
        assert count == 2


async def test_parallel_double_accept_is_harmless(db) -> None:
    s = build(db)
    a, b = await make_users(db, 2)
    req = await s.friends.send_request(a.id, b.id)
    results = await asyncio.gather(*(s.friends.accept(b.id, req["id"]) for _ in range(5)))
    assert all(r["status"] == 1 for r in results)
    assert await s.friends.is_friend(a.id, b.id) and await s.friends.is_friend(b.id, a.id)
    assert s.publisher.types_for(a.id) == ["FRIEND_ACCEPTED"]
