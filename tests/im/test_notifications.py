"""NotificationService: store + push, paging, unread count, mark read, read-all."""

from __future__ import annotations

import pytest
from _social import RecordingPublisher, build, make_users

from stompim.im.errors import ImError
from stompim.im.notifications import NotificationService, NotificationType


async def test_notify_stores_then_pushes_to_the_users_queue(db) -> None:
    s = build(db)
    (u,) = await make_users(db, 1)
    body = await s.notifications.notify(u.id, NotificationType.GROUP_KICKED, "bye", {"groupId": 7})
    assert body["type"] == "GROUP_KICKED" and body["read"] is False and body["userId"] == u.id
    ((dest, pushed, headers),) = s.publisher.published
    assert dest == f"/queue/notification/{u.id}"
    assert headers == {"content-type": "application/json"}
    assert pushed == body
    assert set(pushed) == {"id", "userId", "type", "message", "extra", "read", "createdAt"}
    stored = await s.notifications.page(u.id)
    assert stored.records == [body]  # an offline user finds exactly what was pushed


async def test_paging_newest_first(db) -> None:
    s = build(db)
    u, other = await make_users(db, 2)
    for i in range(25):
        await s.notifications.notify(u.id, NotificationType.FRIEND_REQUEST, f"n{i}", {"i": i})
    await s.notifications.notify(other.id, NotificationType.FRIEND_REQUEST, "not yours")
    p1 = await s.notifications.page(u.id, offset=0, limit=10)
    assert p1.total == 25
    assert [n["extra"]["i"] for n in p1.records] == list(range(24, 14, -1))
    p3 = await s.notifications.page(u.id, offset=20, limit=10)
    assert [n["extra"]["i"] for n in p3.records] == [4, 3, 2, 1, 0]
    assert (await s.notifications.page(u.id, offset=30, limit=10)).records == []
    for bad in ({"offset": -1}, {"limit": 0}, {"limit": 101}):
        with pytest.raises(ImError) as info:
            await s.notifications.page(u.id, **bad)
        assert info.value.code == 9001
    assert len((await s.notifications.page(u.id, limit=100)).records) == 25


async def test_unread_count_mark_read_and_read_all(db) -> None:
    s = build(db)
    u, other = await make_users(db, 2)
    ids = [
        (await s.notifications.notify(u.id, NotificationType.GROUP_INVITATION, f"m{i}"))["id"]
        for i in range(5)
    ]
    theirs = (await s.notifications.notify(other.id, NotificationType.GROUP_INVITATION, "x"))["id"]
    assert await s.notifications.unread_count(u.id) == 5
    assert await s.notifications.mark_read(u.id, [ids[0], ids[1], theirs]) == 2
    assert await s.notifications.unread_count(u.id) == 3
    assert await s.notifications.unread_count(other.id) == 1  # someone else's id is ignored
    assert await s.notifications.mark_read(u.id, [ids[0]]) == 0
    assert await s.notifications.mark_read(u.id, []) == 0
    page = await s.notifications.page(u.id)
    assert {n["id"]: n["read"] for n in page.records} == {
        ids[0]: True, ids[1]: True, ids[2]: False, ids[3]: False, ids[4]: False
    }
    assert await s.notifications.mark_all_read(u.id) == 3
    assert await s.notifications.unread_count(u.id) == 0
    assert await s.notifications.unread_count(other.id) == 1


async def test_every_social_event_is_stored_and_pushed(db) -> None:
    """One pass through the events issue 4 lists; each lands in the right user's center."""
    s = build(db)
    a, b, c, d = await make_users(db, 4)
    r1 = await s.friends.send_request(a.id, b.id)  # FRIEND_REQUEST -> b
    await s.friends.accept(b.id, r1["id"])  # FRIEND_ACCEPTED -> a
    r2 = await s.friends.send_request(c.id, b.id)  # FRIEND_REQUEST -> b
    await s.friends.reject(b.id, r2["id"])  # FRIEND_REJECTED -> c
    g = await s.groups.create(a.id, name="g", member_ids=[b.id, c.id, d.id])  # invites c, d
    # GROUP_JOINED -> b (a friend of a: added directly)
    gid = g["id"]
    inv_c, inv_d = sorted(await s.groups.invitations.pending(c.id) +
                          await s.groups.invitations.pending(d.id), key=lambda i: i["inviteeId"])
    await s.groups.invitations.accept(c.id, inv_c["id"])  # INVITATION_ACCEPTED -> a
    await s.groups.invitations.reject(d.id, inv_d["id"])  # INVITATION_REJECTED -> a
    await s.groups.set_admin(a.id, gid, b.id, True)  # GROUP_ROLE_CHANGED -> b
    await s.groups.update(a.id, gid, {"joinPolicy": "approval"})
    app = await s.groups.joins.apply(d.id, gid, "please")  # GROUP_APPLICATION -> a, b
    await s.groups.joins.reject(b.id, gid, app["id"])  # APPLICATION_REJECTED -> d
    app = await s.groups.joins.apply(d.id, gid, "again")  # GROUP_APPLICATION -> a, b
    await s.groups.joins.approve(a.id, gid, app["id"])  # APPLICATION_APPROVED -> d
    await s.groups.mute_member(b.id, gid, c.id, 5)  # GROUP_MUTED -> c
    await s.groups.kick(b.id, gid, c.id)  # GROUP_KICKED -> c
    await s.groups.transfer(a.id, gid, b.id)  # GROUP_OWNER_TRANSFERRED -> b
    await s.groups.dissolve(b.id, gid)  # GROUP_DISSOLVED -> a, d
    expected = {
        a.id: ["FRIEND_ACCEPTED", "INVITATION_ACCEPTED", "INVITATION_REJECTED",
               "GROUP_APPLICATION", "GROUP_APPLICATION", "GROUP_DISSOLVED"],
        b.id: ["FRIEND_REQUEST", "FRIEND_REQUEST", "GROUP_JOINED", "GROUP_ROLE_CHANGED",
               "GROUP_APPLICATION", "GROUP_APPLICATION", "GROUP_OWNER_TRANSFERRED"],
        c.id: ["FRIEND_REJECTED", "GROUP_INVITATION", "GROUP_MUTED", "GROUP_KICKED"],
        d.id: ["GROUP_INVITATION", "APPLICATION_REJECTED", "APPLICATION_APPROVED",
               "GROUP_DISSOLVED"],
    }
    for uid, types in expected.items():
        assert s.publisher.types_for(uid) == types
        stored = (await s.notifications.page(uid)).records
        assert [n["type"] for n in reversed(stored)] == types
        assert await s.notifications.unread_count(uid) == len(types)
    assert {t.value for t in NotificationType} == {t for ts in expected.values() for t in ts}


class _BrokenPublisher(RecordingPublisher):
    async def publish(self, destination, body, headers=None):  # type: ignore[no-untyped-def]
        raise ConnectionError("broker unreachable")


async def test_a_failed_push_keeps_the_stored_notification(db) -> None:
    (u,) = await make_users(db, 1)
    service = NotificationService(db, _BrokenPublisher())
    body = await service.notify(u.id, NotificationType.GROUP_DISSOLVED, "gone")
    assert (await service.page(u.id)).records == [body]
    assert await service.unread_count(u.id) == 1
