"""Group events in the timeline (issue 15), seen by real clients: stomp.py over TCP, REST
as a front end calls it, both deployments.

Every change of the group (join, rename, announcement, role, mute, kick, ownership,
leave) arrives live on /topic/chat/<gid> as a `type: "system"` MESSAGE with its own
seq, in order with the chat; a device subscribing later with `x-since-seq: 0` gets
the same MESSAGEs, in the same order. A muted member's SEND is refused with 4005 and
the time left; lifting the mute (minutes 0) lets it through.
"""

from __future__ import annotations

from interop._fullnode import FullNode

from ._actors import Devices, Person, json_of

GROUP_MUTED = 4005


def _line(message: object) -> tuple[str, str]:
    body = json_of(message)  # type: ignore[arg-type]
    if body["type"] == "system":
        return "system", body["extra"]["event"]
    return body["type"], body["content"]


def test_group_events_arrive_live_in_order_and_again_by_since_seq(
    node: FullNode, devices: Devices
) -> None:
    owner, bob, carol, dave = (Person(node, n) for n in ("owner", "bob", "carol", "dave"))
    owner.befriend(bob)
    owner.befriend(carol)
    gid = owner.group_with("club", bob, carol)
    topic = f"/topic/chat/{gid}"
    owner_dev, bob_dev, carol_dev = (devices.device(p) for p in (owner, bob, carol))
    bob_dev.subscribe(topic, "g")
    carol_dev.subscribe("/user/queue/errors", "errors")
    carol_dev.subscribe("/user/queue/notification", "n")

    owner_dev.stored(topic, {"content": "one"})
    owner.call("POST", f"/api/group/{gid}/invite", {"userIds": [dave.id]})
    [inv] = dave.call("GET", "/api/group/invitation")
    dave.call("POST", f"/api/group/invitation/{inv['id']}/accept")
    owner.call("PUT", f"/api/group/{gid}", {"name": "club 2", "announcement": "rules"})
    bob_dev.stored(topic, {"content": "two"})
    owner.call("PUT", f"/api/group/{gid}/admin/{bob.id}", {"admin": True})
    muted = bob.call("PUT", f"/api/group/{gid}/member/{carol.id}/mute", {"minutes": 5})
    assert muted["minutes"] == 5 and muted["mutedUntil"] > 0
    # the muted member's SEND is refused with 4005 and the time left; the connection stays
    refused = carol_dev.send_json(topic, {"content": "let me talk"})
    headers = carol_dev.receipt(refused)
    assert headers["x-error-code"] == str(GROUP_MUTED) and "message-id" not in headers
    assert "more seconds" in headers["x-error-message"]
    [error] = carol_dev.wait_on("errors", 1, "the mute refusal")
    assert json_of(error)["code"] == GROUP_MUTED
    carol_dev.log.wait(
        lambda: any(json_of(m)["type"] == "GROUP_MUTED" for m in carol_dev.on("n")),
        "GROUP_MUTED notification")
    # over REST the member list shows it
    members = owner.call("GET", f"/api/group/{gid}/members")["records"]
    row = next(m for m in members if m["userId"] == carol.id)
    assert row["muted"] is True and row["mutedUntil"] == muted["mutedUntil"]
    # an admin may not mute the owner
    bob.call("PUT", f"/api/group/{gid}/member/{owner.id}/mute", {"minutes": 5}, expect=4003)
    owner.call("PUT", f"/api/group/{gid}/member/{carol.id}/mute", {"minutes": 0})
    carol_dev.stored(topic, {"content": "three"})
    owner.call("DELETE", f"/api/group/{gid}/member/{dave.id}")
    owner.call("PUT", f"/api/group/{gid}/owner", {"userId": bob.id})
    owner.call("POST", f"/api/group/{gid}/quit")
    bob_dev.stored(topic, {"content": "four"})

    expected = [
        ("text", "one"),
        ("system", "member_joined"),
        ("system", "group_renamed"),
        ("system", "announcement_changed"),
        ("text", "two"),
        ("system", "role_changed"),
        ("system", "member_muted"),
        ("system", "member_muted"),
        ("text", "three"),
        ("system", "member_kicked"),
        ("system", "owner_transferred"),
        ("system", "member_left"),
        ("text", "four"),
    ]
    live = bob_dev.settled("g", len(expected), "every event and message, live")
    assert [_line(m) for m in live] == expected
    assert [int(m.headers["seq"]) for m in live] == list(range(1, len(expected) + 1))
    assert json_of(live[7])["extra"] == {
        "event": "member_muted", "operatorId": owner.id, "userIds": [carol.id],
        "minutes": 0, "mutedUntil": 0,
    }
    assert json_of(live[9])["content"] == "owner removed dave"
    # again, from the store: a second device resumes from 0 and from the middle
    later = devices.device(bob, bob.login()["token"], label="bob-later")
    later.subscribe(topic, "all", **{"x-since-seq": "0"})
    later.subscribe(topic, "tail", **{"x-since-seq": "9"})
    replayed = later.settled("all", len(expected), "the replay from 0")
    assert [_line(m) for m in replayed] == expected
    assert [m.headers["message-id"] for m in replayed] == [m.headers["message-id"] for m in live]
    assert [_line(m) for m in later.wait_on("tail", 4, "the replay from 9")] == expected[9:]
    # and the history page over REST
    cid = live[0].headers["conversation-id"]
    assert [
        ("system", m["extra"]["event"]) if m["type"] == "system" else (m["type"], m["content"])
        for m in bob.history(cid, limit=50)
    ] == expected
