"""Read-by from read markers (stompim.im.readers), on SQLite and MariaDB.

Three members read a group's messages up to different seqs: each message's readers
are the members whose marker passed it, never its sender nor a member who joined
after it; a small group pushes read-count events to the sender, a larger one does
not; a private message's reader is the peer once their marker passes it.
"""

from __future__ import annotations

from typing import Any

import pytest
from _social import Social, befriend, build, make_users

from stompim.im.errors import ImError
from stompim.im.messages import parse_draft
from stompim.im.readers import ReadReceipts


def _receipts(s: Social, max_event_group_size: int = 100) -> ReadReceipts:
    assert s.chat is not None
    receipts = ReadReceipts(s.db, s.chat.conversations, s.publisher,
                            max_event_group_size=max_event_group_size)
    s.chat.conversations.on_group_read = receipts.group_read
    return receipts


def _counts(s: Social, user_id: int) -> list[dict[str, Any]]:
    dest = f"/queue/chat/{user_id}"
    return [b for d, b, h in s.publisher.published
            if d == dest and h.get("x-event") == "read_count"]


async def test_readers_after_three_members_read_at_different_seqs(db) -> None:
    s = build(db, timeline=True)
    assert s.chat is not None
    receipts = _receipts(s)
    owner, m1, m2, m3, late = await make_users(db, 5)
    for u in (m1, m2, m3, late):
        await befriend(s, owner.id, u.id)
    gid = int((await s.groups.create(owner.id, name="R", member_ids=[m1.id, m2.id, m3.id]))["id"])
    sent = [await s.chat.send_group(owner.id, gid, parse_draft({"content": f"m{i}"},
                                                               max_length=100))
            for i in (1, 2, 3)]
    conv = sent[0].message.conversation_id
    assert [r.message.seq for r in sent] == [1, 2, 3]
    nobody = await receipts.readers(m1.id, sent[0].message.id)
    assert (nobody["memberCount"], nobody["readCount"], nobody["readers"]) == (3, 0, [])
    for member, seq in ((m1, 1), (m2, 2), (m3, 3)):
        await s.chat.conversations.mark_read(member.id, conv, seq)
    # each message went to its sender as a read count, as members passed it
    assert [(c["seq"], c["readCount"], c["memberCount"]) for c in _counts(s, owner.id)] == [
        (1, 1, 3), (1, 2, 3), (2, 1, 3), (1, 3, 3), (2, 2, 3), (3, 1, 3)]
    # a member joining later reads everything: not a reader of what came before
    await s.groups.invitations.invite(owner.id, gid, [late.id])  # a friend: still invited
    (inv,) = await s.groups.invitations.pending(late.id)
    await s.groups.invitations.accept(late.id, inv["id"])
    await s.chat.conversations.mark_read(late.id, conv, 10)
    expected = {0: [m1.id, m2.id, m3.id], 1: [m2.id, m3.id], 2: [m3.id]}
    for i, readers in expected.items():
        got = await receipts.readers(m2.id, sent[i].message.id)
        assert [r["userId"] for r in got["readers"]] == readers
        assert got["readCount"] == len(readers) and got["memberCount"] == 3
        assert got["unreadCount"] == 3 - len(readers) and got["truncated"] is False
        assert got["readers"][0]["nickname"] == {m1.id: m1, m2.id: m2, m3.id: m3}[
            readers[0]].nickname
    # counts only, and a short list
    short = await receipts.readers(owner.id, sent[0].message.id, limit=1)
    assert [r["userId"] for r in short["readers"]] == [m1.id] and short["truncated"] is True
    counts = await receipts.readers(owner.id, sent[0].message.id, limit=0)
    assert counts["readers"] == [] and counts["readCount"] == 3
    # a message sent after the late join counts them
    after = await s.chat.send_group(m1.id, gid, parse_draft({"content": "x"}, max_length=100))
    await s.chat.conversations.mark_read(late.id, conv, after.message.seq)
    got = await receipts.readers(owner.id, after.message.id)
    assert got["memberCount"] == 4 and [r["userId"] for r in got["readers"]] == [late.id]
    # outsiders and unknown ids: not found
    outsider, = await make_users(db, 1)
    for who, mid in ((outsider.id, sent[0].message.id), (owner.id, 10**12)):
        with pytest.raises(ImError) as info:
            await receipts.readers(who, mid)
        assert info.value.code == 3002


async def test_read_count_events_only_in_small_groups(db) -> None:
    s = build(db, timeline=True)
    assert s.chat is not None
    _receipts(s, max_event_group_size=2)
    owner, m1, m2 = await make_users(db, 3)
    for u in (m1, m2):
        await befriend(s, owner.id, u.id)
    gid = int((await s.groups.create(owner.id, name="big", member_ids=[m1.id, m2.id]))["id"])
    sent = await s.chat.send_group(owner.id, gid, parse_draft({"content": "hi"}, max_length=9))
    await s.chat.conversations.mark_read(m1.id, sent.message.conversation_id, 1)
    assert _counts(s, owner.id) == []  # 3 members > 2: no event


async def test_private_reader_is_the_peer(db) -> None:
    s = build(db, timeline=True)
    assert s.chat is not None
    receipts = _receipts(s)
    alice, bob = await make_users(db, 2)
    await befriend(s, alice.id, bob.id)
    sent = await s.chat.send_private(alice.id, bob.id, parse_draft({"content": "hi"},
                                                                   max_length=9))
    before = await receipts.readers(alice.id, sent.message.id)
    assert (before["memberCount"], before["readCount"]) == (1, 0)
    await s.chat.conversations.mark_read(bob.id, sent.message.conversation_id, 1)
    after = await receipts.readers(bob.id, sent.message.id)
    assert [r["userId"] for r in after["readers"]] == [bob.id] and after["readCount"] == 1
    assert _counts(s, alice.id) == []  # read counts are for groups; private has read events
