"""Edits (issue 16) with stomp.py over TCP on both deployments, time moved by an injected
clock (no sleeps): inside the window the new version is stored and every participant's
devices hear an `edit` event; after it the edit is refused (3010); a client resuming
with x-since-seq gets the edit it missed; history shows `edited` and `editedAt`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from interop._fullnode import FullNode

from stompim.im.clock import now_ms

from ._actors import Devices, Person, json_of

PRIVATE = "/app/chat/private"
GROUP = "/app/chat/group"
EDIT_WINDOW_PASSED = 3010
MINUTE = 60_000


class Clock:
    """Wall-clock ms plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0

    def __call__(self) -> int:
        return now_ms() + self.offset


def with_clock(node: FullNode) -> Clock:
    clock = Clock()
    node.services.chat.clock = clock  # sends and timeline actions read it
    return clock


def test_group_edit_inside_and_outside_the_window(node: FullNode, devices: Devices) -> None:
    clock = with_clock(node)
    alice, bob, carol, dave = (Person(node, n) for n in ("alice", "bob", "carol", "dave"))
    alice.befriend(bob)
    alice.befriend(carol)
    gid = alice.group_with("g", bob, carol)
    topic = f"/topic/chat/{gid}"
    alice_dev = devices.device(alice)
    phone = devices.device(bob, label="bob-phone")
    laptop = devices.device(bob, token=bob.login()["token"], label="bob-laptop")
    for dev in (alice_dev, phone, laptop):
        dev.subscribe(topic, "g")
    outsider = devices.device(dave)
    outsider.subscribe("/user/queue/chat", "q")
    outsider.subscribe(f"/topic/chat-{gid}", "t")

    sent = alice_dev.stored(GROUP, {"groupId": gid, "content": "meet at 5"})
    mid, cid = int(sent["message-id"]), int(sent["conversation-id"])
    alice_dev.stored(GROUP, {"groupId": gid, "content": "bring cake"})
    for dev in (phone, laptop):
        dev.wait_on("g", 2, "both messages")

    bob.call("POST", f"/api/message/{mid}/edit", {"content": "mine now"}, expect=9003)
    clock.offset = 14 * MINUTE
    edited = alice.call("POST", f"/api/message/{mid}/edit", {"content": "meet at 6"})
    assert edited["content"] == "meet at 6" and edited["edited"] is True
    edited_at = edited["editedAt"]
    assert edited_at >= now_ms() + 14 * MINUTE - 5_000
    want = {"event": "edit", "messageId": mid, "conversationId": cid, "seq": 1, "version": 1,
            "content": "meet at 6", "editedAt": edited_at, "operatorId": alice.id}
    for dev in (alice_dev, phone, laptop):
        dev.log.wait(lambda dev=dev: bool(dev.events("g", "edit")), f"edit at {dev.label}")
        assert dev.events("g", "edit") == [want]
        [frame] = [m for m in dev.on("g") if m.headers.get("x-event") == "edit"]
        assert frame.headers["message-id"] == f"edit-{mid}-1"
        assert frame.headers["x-message-id"] == str(mid)
    first, second = carol.history(cid)
    assert (first["content"], first["edited"], first["editedAt"]) == ("meet at 6", True, edited_at)
    assert "edited" not in second and "editedAt" not in second

    # a second edit is version 2; then the window (15 minutes from the send) closes
    clock.offset = 14 * MINUTE + 30_000
    assert alice.call("POST", f"/api/message/{mid}/edit", {"content": "meet at 7"})["edited"]
    phone.log.wait(lambda: len(phone.events("g", "edit")) == 2, "second edit")
    assert phone.events("g", "edit")[1]["version"] == 2
    clock.offset = 16 * MINUTE
    alice.call("POST", f"/api/message/{mid}/edit", {"content": "too late"},
               expect=EDIT_WINDOW_PASSED)
    assert carol.history(cid)[0]["content"] == "meet at 7"

    # carol was away after seeing both messages: resuming from seq 2 she gets the edit
    # (its last version), and from seq 0 the edited message itself
    tablet = devices.device(carol, label="carol-tablet")
    tablet.subscribe(topic, "g", **{"x-since-seq": "2"})
    [event] = tablet.settled("g", 1, "the missed edit")
    assert event.headers["x-event"] == "edit" and event.headers["message-id"] == f"edit-{mid}-2"
    assert json_of(event)["content"] == "meet at 7" and json_of(event)["version"] == 2
    fresh = devices.device(carol, label="carol-fresh")
    fresh.subscribe(topic, "g", **{"x-since-seq": "0"})
    replayed = fresh.settled("g", 2, "the replay")
    assert [json_of(m).get("edited") for m in replayed] == [True, None]
    assert json_of(replayed[0])["content"] == "meet at 7"

    # an edit needs text
    alice.call("POST", f"/api/message/{mid}/edit", {"content": "  "}, expect=9001)
    time.sleep(0.2)
    assert outsider.log.messages == [], "dave heard the group's edits"


def test_private_edit_reaches_both_users_and_resume(
    start_node: Callable[..., FullNode], devices: Devices
) -> None:
    node = start_node(im={"edit_window_seconds": 60})
    clock = with_clock(node)
    alice, bob, carol = Person(node, "alice"), Person(node, "bob"), Person(node, "carol")
    alice.befriend(bob)
    carol.befriend(alice)
    alice_dev = devices.device(alice)
    bob_dev = devices.device(bob)
    # a message outside bob's inbox first: his inbox places and message ids then differ
    devices.device(carol).stored(PRIVATE, {"toUserId": alice.id, "content": "hi alice"})
    for dev in (alice_dev, bob_dev):
        dev.subscribe("/user/queue/chat", "q")
    sent = alice_dev.stored(PRIVATE, {"toUserId": bob.id, "content": "hi bob"})
    mid = int(sent["message-id"])
    [seen] = bob_dev.wait_on("q", 1, "the message")
    place = int(seen.headers["seq"])  # bob's inbox place of it
    assert place != mid
    clock.offset = 59_000
    alice.call("POST", f"/api/message/{mid}/edit", {"content": "hi Bob"})
    for dev in (alice_dev, bob_dev):
        dev.log.wait(lambda dev=dev: bool(dev.events("q", "edit")), f"edit at {dev.label}")
        assert dev.events("q", "edit")[0]["content"] == "hi Bob"
    # the private queue resumes by inbox place: the edit of the message seen comes again
    again = devices.device(bob, label="bob-again")
    again.subscribe("/user/queue/chat", "q", **{"x-since-seq": str(place)})
    [event] = again.settled("q", 1, "the missed edit")
    assert json_of(event)["messageId"] == mid and json_of(event)["version"] == 1
    clock.offset = 61_000  # the configured window (60 s) has passed
    alice.call("POST", f"/api/message/{mid}/edit", {"content": "late"},
               expect=EDIT_WINDOW_PASSED)
    [stored] = bob.history(sent["conversation-id"])
    assert (stored["content"], stored["edited"]) == ("hi Bob", True)
    # a recalled message shows no edit and takes none
    alice.call("POST", f"/api/message/{mid}/recall")
    [gone] = bob.history(sent["conversation-id"])
    assert gone["content"] == "" and "edited" not in gone
    clock.offset = 0
    alice.call("POST", f"/api/message/{mid}/edit", {"content": "back"}, expect=9001)


def test_a_resume_brings_no_edit_of_a_message_deleted_for_me(
    start_node: Callable[..., FullNode], devices: Devices
) -> None:
    """Bob deleted alice's edited message for himself, carol cleared the group: resuming
    with x-since-seq, neither is told of edits to what they no longer see. (The first
    frame after the replay is a new live message: an edit replayed would come first.)"""
    node = start_node(im={"edit_window_seconds": 60})
    clock = with_clock(node)
    alice, bob, carol = (Person(node, n) for n in ("alice", "bob", "carol"))
    alice.befriend(bob)
    alice.befriend(carol)
    gid = alice.group_with("g", bob, carol)
    alice_dev = devices.device(alice)
    bob_dev = devices.device(bob)
    bob_dev.subscribe("/user/queue/chat", "q")
    private = alice_dev.stored(PRIVATE, {"toUserId": bob.id, "content": "hi bob"})
    [seen] = bob_dev.wait_on("q", 1, "the private message")
    place = int(seen.headers["seq"])
    group = alice_dev.stored(GROUP, {"groupId": gid, "content": "hi all"})
    clock.offset = 30_000
    for sent in (private, group):
        alice.call("POST", f"/api/message/{sent['message-id']}/edit", {"content": "edited"})
    bob_dev.log.wait(lambda: bool(bob_dev.events("q", "edit")), "the live edit")

    bob.call("POST", "/api/message/delete", {"messageIds": [int(private["message-id"])]})
    carol.call("POST", f"/api/conversation/{group['conversation-id']}/clear")
    again = devices.device(bob, label="bob-again")
    again.subscribe("/user/queue/chat", "q", **{"x-since-seq": str(place)})
    tablet = devices.device(carol, label="carol-tablet")
    tablet.subscribe(f"/topic/chat/{gid}", "g", **{"x-since-seq": group["seq"]})
    alice_dev.stored(PRIVATE, {"toUserId": bob.id, "content": "next"})
    alice_dev.stored(GROUP, {"groupId": gid, "content": "next"})
    for dev, sub in ((again, "q"), (tablet, "g")):
        first = dev.wait_on(sub, 1, "the next live message")[0]
        assert first.headers.get("x-event") is None and json_of(first)["content"] == "next"
    # one who still sees the message is told of the edit it missed
    alice_again = devices.device(alice, label="alice-again")
    alice_again.subscribe(f"/topic/chat/{gid}", "g", **{"x-since-seq": group["seq"]})
    event = alice_again.wait_on("g", 1, "the missed edit")[0]   # then the live "next"
    assert event.headers["x-event"] == "edit" and json_of(event)["content"] == "edited"
