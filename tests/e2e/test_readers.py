"""Read-by in a group (issue 15) through REST and stomp.py, both deployments: three
members read up to different seqs; GET /api/message/{id}/readers names them, and the
sender's devices get `x-event: read_count` events on /user/queue/chat as they read.
"""

from __future__ import annotations

from interop._fullnode import FullNode

from ._actors import Devices, Person, json_of


def test_readers_after_three_members_read_at_different_seqs(
    node: FullNode, devices: Devices
) -> None:
    owner, m1, m2, m3 = (Person(node, n) for n in ("owner", "reader1", "reader2", "reader3"))
    for m in (m1, m2, m3):
        owner.befriend(m)
    gid = owner.group_with("readers", m1, m2, m3)
    topic = f"/topic/chat/{gid}"
    owner_dev = devices.device(owner)
    owner_dev.subscribe("/user/queue/chat", "mine")
    sent = [owner_dev.stored(topic, {"content": f"message {i}"}) for i in (1, 2, 3)]
    conv = int(sent[0]["conversation-id"])
    ids = [int(h["message-id"]) for h in sent]
    for member, seq in ((m1, 1), (m2, 2), (m3, 3)):
        marker = member.call("POST", "/api/message/read", {"conversationId": conv, "seq": seq})
        assert marker["readSeq"] == seq
    counts = owner_dev.wait_on("mine", 6, "six read_count events")
    bodies = [json_of(m) for m in counts if m.headers.get("x-event") == "read_count"]
    assert [(b["messageId"], b["readCount"], b["memberCount"]) for b in bodies] == [
        (ids[0], 1, 3), (ids[0], 2, 3), (ids[1], 1, 3), (ids[0], 3, 3), (ids[1], 2, 3),
        (ids[2], 1, 3)]
    expected = {0: [m1.id, m2.id, m3.id], 1: [m2.id, m3.id], 2: [m3.id]}
    for i, readers in expected.items():
        got = m1.call("GET", f"/api/message/{ids[i]}/readers")
        assert [r["userId"] for r in got["readers"]] == readers, got
        assert (got["readCount"], got["unreadCount"], got["memberCount"]) == (
            len(readers), 3 - len(readers), 3)
        assert got["readers"][0]["nickname"]
    short = owner.call("GET", f"/api/message/{ids[0]}/readers?limit=1")
    assert len(short["readers"]) == 1 and short["truncated"] is True
    stranger = Person(node, "stranger")
    stranger.call("GET", f"/api/message/{ids[0]}/readers", expect=3002)


def test_conversation_lookup_peer_read_seq_and_group_conversation_id(
    node: FullNode, devices: Devices
) -> None:
    alice, bob, carol = (Person(node, n) for n in ("alice", "bob", "carol"))
    alice.befriend(bob)
    gid = alice.group_with("looked-up", bob)
    # the group JSON names its conversation from the start, before any message
    info = bob.call("GET", f"/api/group/{gid}")
    assert info["conversationId"] and info["lastSeq"] == 0
    [mine] = bob.call("GET", "/api/group/my")
    assert mine["conversationId"] == info["conversationId"]
    group_conv = alice.call("GET", f"/api/conversation/lookup?chatType=group&targetId={gid}")
    assert group_conv["conversationId"] == info["conversationId"]
    assert group_conv["chatType"] == "group" and "peerReadSeq" not in group_conv
    carol.call("GET", f"/api/conversation/lookup?chatType=group&targetId={gid}", expect=3005)
    alice.call("GET", f"/api/conversation/lookup?chatType=private&targetId={bob.id}",
               expect=3005)  # no message yet
    alice.call("GET", f"/api/conversation/lookup?chatType=team&targetId={bob.id}", expect=9001)

    dev = devices.device(alice)
    sent = [dev.stored("/app/chat/private", {"toUserId": bob.id, "content": f"hi {i}"})
            for i in (1, 2)]
    conv = int(sent[0]["conversation-id"])
    found = alice.call("GET", f"/api/conversation/lookup?chatType=private&targetId={bob.id}")
    assert found["conversationId"] == conv and found["lastSeq"] == 2
    assert found["peerReadSeq"] == 0 and found["targetId"] == bob.id
    bob.call("POST", "/api/message/read", {"conversationId": conv, "seq": 1})
    [listed] = [c for c in alice.call("GET", "/api/conversation/list")["list"]
                if c["conversationId"] == conv]
    assert listed["peerReadSeq"] == 1 and listed["readSeq"] == 2
    again = alice.call("GET", f"/api/conversation/lookup?chatType=private&targetId={bob.id}")
    assert again["peerReadSeq"] == 1
    readers = alice.call("GET", f"/api/message/{sent[0]['message-id']}/readers")
    assert [r["userId"] for r in readers["readers"]] == [bob.id]
    assert readers["memberCount"] == 1
