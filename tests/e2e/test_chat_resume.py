"""Resume after a disconnect (issue 5), with stomp.py over TCP: a re-SUBSCRIBE carrying
`x-since-seq` gets exactly the missed messages, in order, then the live ones; no gap,
no duplicate. On /topic/chat/<gid> the seq is the group's; on the private queue it is
the place in the user's inbox (stompim/stomp/chat.py, "Resume").
"""

from __future__ import annotations

import threading
import time

from interop._fullnode import FullNode

from ._actors import Devices, Person, json_of, stored_id

MISSED = 7


def test_group_topic_and_private_queue_resume_without_gap_or_duplicate(
    node: FullNode, devices: Devices
) -> None:
    alice, bob, carol = Person(node, "alice"), Person(node, "bob"), Person(node, "carol")
    alice.befriend(bob)
    alice.befriend(carol)
    gid = alice.group_with("resume", bob, carol)
    topic = f"/topic/chat/{gid}"
    alice_dev, carol_dev = devices.device(alice), devices.device(carol)

    bob_dev = devices.device(bob)
    bob_dev.subscribe(topic, "g")
    bob_dev.subscribe("/user/queue/chat", "q")
    alice_dev.stored(topic, {"type": "text", "content": "g0"})
    alice_dev.stored("/app/chat/private", {"toUserId": bob.id, "type": "text", "content": "p0"})
    [seen_group] = bob_dev.wait_on("g", 1, "g0")
    [seen_private] = bob_dev.wait_on("q", 1, "p0")
    bob_dev.close()  # bob goes offline

    missed_group, missed_private = [], []
    for n in range(1, MISSED + 1):
        sender = alice_dev if n % 2 else carol_dev  # two senders interleaved
        missed_group.append(sender.stored(topic, {"type": "text", "content": f"g{n}"}))
        missed_private.append(alice_dev.stored(
            "/app/chat/private", {"toUserId": bob.id, "type": "text", "content": f"p{n}"}))
    # bob's own message sent from another device also belongs to his private stream
    bob_laptop = devices.device(bob, label="bob-laptop")
    own = bob_laptop.stored("/app/chat/private",
                            {"toUserId": alice.id, "type": "text", "content": "from laptop"})

    back = devices.device(bob, label="bob-back")
    back.subscribe(topic, "g", **{"x-since-seq": seen_group.headers["seq"]})
    back.subscribe("/user/queue/chat", "q", **{"x-since-seq": seen_private.headers["seq"]})
    live_group = alice_dev.stored(topic, {"type": "text", "content": "live-g"})
    live_private = alice_dev.stored("/app/chat/private",
                                    {"toUserId": bob.id, "type": "text", "content": "live-p"})

    group = back.settled("g", MISSED + 1, "group replay then live")
    assert [json_of(m)["content"] for m in group] == [f"g{n}" for n in range(1, MISSED + 1)] + [
        "live-g"]
    assert [int(m.headers["seq"]) for m in group] == list(range(2, MISSED + 3))
    assert [stored_id(m.headers) for m in group] == [
        r["message-id"] for r in (*missed_group, live_group)]

    private = back.settled("q", MISSED + 2, "private replay then live")
    expected = [r["message-id"] for r in (*missed_private, own, live_private)]
    assert [stored_id(m.headers) for m in private] == expected
    # the private stream's order key: bob's inbox, 1 (p0) then every place once, in order
    assert [int(m.headers["seq"]) for m in private] == list(range(2, MISSED + 4))
    assert [json_of(m)["content"] for m in private] == [
        *(f"p{n}" for n in range(1, MISSED + 1)), "from laptop", "live-p"]
    # the conversation's own seq, for the UI, is continuous too
    assert [int(m.headers["x-conversation-seq"]) for m in private] == list(range(2, MISSED + 4))


def test_resume_from_zero_replays_the_whole_group_history(
    node: FullNode, devices: Devices
) -> None:
    """A new device with nothing cached asks from 0 and gets everything once."""
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    gid = alice.group_with("from-zero", bob)
    alice_dev = devices.device(alice)
    sent = [alice_dev.stored(f"/topic/chat/{gid}", {"type": "text", "content": f"m{n}"})
            for n in range(5)]
    fresh = devices.device(bob)
    fresh.subscribe(f"/topic/chat/{gid}", "g", **{"x-since-seq": "0"})
    got = fresh.settled("g", 5, "the whole history")
    assert [stored_id(m.headers) for m in got] == [r["message-id"] for r in sent]


def test_resume_while_messages_keep_arriving(node: FullNode, devices: Devices) -> None:
    """Replay and live delivery overlap: messages committed while the replay is read must
    arrive once, in order, whichever path brings them (the broker's seq floor)."""
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    gid = alice.group_with("busy", bob)
    topic = f"/topic/chat/{gid}"
    alice_dev = devices.device(alice)
    for n in range(10):
        alice_dev.stored(topic, {"type": "text", "content": f"m{n}"})
    total = 60
    stop = threading.Event()

    def keep_sending() -> None:
        for n in range(10, total):
            if stop.is_set():
                return
            alice_dev.send_json(topic, {"type": "text", "content": f"m{n}"})
            time.sleep(0.002)

    sender = threading.Thread(target=keep_sending, name="busy-sender", daemon=True)
    sender.start()
    try:
        bob_dev = devices.device(bob)
        bob_dev.subscribe(topic, "g", **{"x-since-seq": "4"})  # bob had seen m0..m3
    finally:
        sender.join(timeout=10)
        stop.set()
    assert not sender.is_alive()
    got = bob_dev.settled("g", total - 4, "replay plus the live stream", quiet=0.4)
    assert [int(m.headers["seq"]) for m in got] == list(range(5, total + 1))
    assert [json_of(m)["content"] for m in got] == [f"m{n}" for n in range(4, total)]
