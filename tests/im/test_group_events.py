"""Group events as system messages in the group's conversation, and member mutes.

On both databases (the `db` fixture): every change of a group becomes a `type:
"system"` message with its own seq, published on /topic/chat/<gid> in seq order with
the chat messages around it; members added directly get a notification; a member's
timed mute refuses their sends (4005, with the time left) until the injected clock
passes its end.
"""

from __future__ import annotations

from typing import Any

import pytest
from _social import Social, befriend, build, make_users

from stompim.im.errors import ImError
from stompim.im.messages import parse_draft


def _draft(text: str):  # type: ignore[no-untyped-def]
    return parse_draft({"content": text}, max_length=5000)


def _topic(s: Social, gid: int) -> list[dict[str, Any]]:
    dest = f"/topic/chat/{gid}"
    return [body for d, body, _ in s.publisher.published if d == dest]


async def _code(coro) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ImError) as info:
        await coro
    return info.value.code, info.value.message


async def test_every_group_event_is_a_system_message_in_order_with_chat(db) -> None:
    s = build(db, timeline=True)
    assert s.chat is not None
    owner, bob, carol, dave = await make_users(db, 4)
    for u in (bob, carol):
        await befriend(s, owner.id, u.id)
    g = await s.groups.create(owner.id, name="Team", member_ids=[bob.id, carol.id, dave.id])
    gid = int(g["id"])
    # added directly: a notification; invited: an invitation, no join event yet
    assert "GROUP_JOINED" in s.publisher.types_for(bob.id)
    assert "GROUP_JOINED" in s.publisher.types_for(carol.id)
    assert s.publisher.types_for(dave.id) == ["GROUP_INVITATION"]
    await s.chat.send_group(bob.id, gid, _draft("hello"))
    (inv,) = await s.groups.invitations.pending(dave.id)
    await s.groups.invitations.accept(dave.id, inv["id"])
    await s.groups.update(owner.id, gid, {"name": "Team 2", "announcement": "read me"})
    await s.groups.set_admin(owner.id, gid, bob.id, True)
    await s.chat.send_group(carol.id, gid, _draft("between"))
    await s.groups.mute_member(bob.id, gid, carol.id, 10)
    await s.groups.update(owner.id, gid, {"allMuted": True, "joinPolicy": "approval"})
    await s.groups.update(owner.id, gid, {"name": "Team 2"})  # no change: no message
    await s.groups.kick(bob.id, gid, carol.id)
    await s.groups.transfer(owner.id, gid, bob.id)
    await s.groups.quit(owner.id, gid)

    conv = await s.chat.repo.of_group(gid)
    assert conv is not None
    history = await s.chat.history(dave.id, conv.id, limit=100)
    events = [
        (m["type"], (m["extra"] or {}).get("event") if m["type"] == "system" else m["content"])
        for m in history
    ]
    assert events == [
        ("text", "hello"),  # creation writes no system message: seq 1 is the first chat
        ("system", "member_joined"),
        ("system", "group_renamed"),
        ("system", "announcement_changed"),
        ("system", "role_changed"),
        ("text", "between"),
        ("system", "member_muted"),
        ("system", "all_muted"),
        ("system", "join_policy_changed"),
        ("system", "member_kicked"),
        ("system", "owner_transferred"),
        ("system", "member_left"),
    ]
    assert [m["seq"] for m in history] == list(range(1, len(history) + 1))
    by_event = {(m["extra"] or {}).get("event"): m for m in history if m["type"] == "system"}
    joined = by_event["member_joined"]  # the later one: by invitation
    assert joined["fromUserId"] == dave.id and joined["extra"]["via"] == "invitation"
    assert joined["extra"]["inviterId"] == owner.id
    assert by_event["group_renamed"]["extra"]["previousName"] == "Team"
    assert by_event["announcement_changed"]["extra"]["announcement"] == "read me"
    assert by_event["role_changed"]["extra"] == {
        "event": "role_changed", "operatorId": owner.id, "userIds": [bob.id], "role": "admin",
    }
    muted = by_event["member_muted"]
    assert muted["fromUserId"] == bob.id and muted["extra"]["minutes"] == 10
    assert muted["extra"]["mutedUntil"] > 0 and muted["extra"]["userIds"] == [carol.id]
    assert by_event["join_policy_changed"]["extra"]["joinPolicy"] == "approval"
    assert by_event["member_kicked"]["extra"]["userIds"] == [carol.id]
    assert by_event["member_kicked"]["content"] == f"{bob.nickname} removed {carol.nickname}"
    assert by_event["owner_transferred"]["extra"]["previousOwnerId"] == owner.id
    assert by_event["member_left"]["fromUserId"] == owner.id
    # live: the same messages on the group topic, in seq order, each once
    live = _topic(s, gid)
    assert [m["seq"] for m in live] == [m["seq"] for m in history]
    # the kicked member's subscription ends only after the kick's message was published
    assert (carol.id, f"/topic/chat/{gid}", "removed from the group") in s.publisher.ended
    # the group JSON names its conversation and how far it goes
    info = await s.groups.info(bob.id, gid)
    assert (info["conversationId"], info["lastSeq"]) == (conv.id, len(history))
    (mine,) = await s.groups.my_groups(bob.id)
    assert (mine["conversationId"], mine["lastSeq"]) == (conv.id, len(history))
    # clients cannot send system messages themselves
    with pytest.raises(ImError):
        parse_draft({"type": "system", "content": "fake"}, max_length=5000)


async def test_member_mute_runs_out_on_the_injected_clock(db) -> None:
    s = build(db, timeline=True)
    assert s.chat is not None
    owner, admin, admin2, member = await make_users(db, 4)
    for u in (admin, admin2, member):
        await befriend(s, owner.id, u.id)
    gid = int((await s.groups.create(
        owner.id, name="M", member_ids=[admin.id, admin2.id, member.id]))["id"])
    await s.groups.set_admin(owner.id, gid, admin.id, True)
    await s.groups.set_admin(owner.id, gid, admin2.id, True)
    # who may mute whom
    assert (await _code(s.groups.mute_member(admin.id, gid, admin2.id, 5)))[0] == 4003
    assert (await _code(s.groups.mute_member(admin.id, gid, owner.id, 5)))[0] == 4003
    assert (await _code(s.groups.mute_member(owner.id, gid, owner.id, 5)))[0] == 4003
    assert (await _code(s.groups.mute_member(member.id, gid, admin.id, 5)))[0] == 4003
    assert (await _code(s.groups.mute_member(admin.id, gid, member.id, -1)))[0] == 9001
    assert (await _code(s.groups.mute_member(admin.id, gid, member.id, 10**6)))[0] == 9001
    out = await s.groups.mute_member(admin.id, gid, member.id, 5)
    until = out["mutedUntil"]
    assert out["minutes"] == 5 and s.clock.now < until <= s.clock.now + 5 * 60_000
    assert "GROUP_MUTED" in s.publisher.types_for(member.id)
    code, message = await _code(s.chat.send_group(member.id, gid, _draft("x")))
    assert code == 4005 and "300 more seconds" in message and str(until) in message
    row = next(m for m in (await s.groups.members(owner.id, gid)).records
               if m["userId"] == member.id)
    assert row["muted"] is True and row["mutedUntil"] == until
    s.clock.now = until - 60_000 - 1  # four minutes later (the next read adds 1 ms)
    code, message = await _code(s.chat.send_group(member.id, gid, _draft("x")))
    assert code == 4005 and "60 more seconds" in message
    await s.chat.send_group(admin.id, gid, _draft("admins still talk"))
    s.clock.now = until  # the next read is past the end
    sent = await s.chat.send_group(member.id, gid, _draft("free again"))
    assert sent.message.content == "free again"
    row = next(m for m in (await s.groups.members(owner.id, gid)).records
               if m["userId"] == member.id)
    assert row["muted"] is False and row["mutedUntil"] == 0
    # muted again, then lifted with 0
    await s.groups.mute_member(owner.id, gid, admin.id, 60)
    assert (await _code(s.chat.send_group(admin.id, gid, _draft("x"))))[0] == 4005
    lifted = await s.groups.mute_member(owner.id, gid, admin.id, 0)
    assert lifted["mutedUntil"] == 0
    await s.chat.send_group(admin.id, gid, _draft("back"))
    # not a member: 404 after the actor's own rights
    outsider, = await make_users(db, 1)
    assert (await _code(s.groups.mute_member(owner.id, gid, outsider.id, 5)))[0] == 4002
    assert (await _code(s.groups.mute_member(member.id, gid, outsider.id, 5)))[0] == 4003
