"""Replies and forwards (issue 16) with stomp.py over TCP, two devices per user, on both
deployments: the quoted summary stored with the reply, shown recalled once the original
is recalled (and when replying to a recalled message); forwards checked at the target
and at the source; a non-member never hears any of it.
"""

from __future__ import annotations

import io
import time

from interop._fullnode import FullNode
from PIL import Image

from ._actors import Device, Devices, Person, json_of
from .test_media_chat import fetch, upload

PRIVATE = "/app/chat/private"
GROUP = "/app/chat/group"
MESSAGE_NOT_FOUND = 3002
NOT_FRIENDS = 2003


def refused(dev: Device, destination: str, body: dict[str, object]) -> str:
    """SEND and return the refusal's code (the RECEIPT carries no message-id)."""
    got = dev.receipt(dev.send_json(destination, body))
    assert "message-id" not in got, got
    return got["x-error-code"]


def outsider_hears_nothing(dev: Device) -> None:
    time.sleep(0.2)
    assert dev.log.messages == [], [m.body for m in dev.log.messages]


def test_group_reply_quotes_and_shows_the_recall(node: FullNode, devices: Devices) -> None:
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
    outsider.subscribe("/topic/anything", "t")

    question = alice_dev.stored(GROUP, {"groupId": gid, "content": "lunch at noon?"})
    qid, cid = int(question["message-id"]), int(question["conversation-id"])
    answer = phone.stored(GROUP, {"groupId": gid, "content": "yes", "replyTo": qid})
    quote = {"messageId": qid, "seq": 1, "fromUserId": alice.id, "type": "text",
             "content": "lunch at noon?", "recalled": False}
    for dev in (alice_dev, phone, laptop):
        got = dev.wait_on("g", 2, f"the reply at {dev.label}")
        body = json_of(got[1])
        assert body["replyTo"] == qid and body["extra"] == {"reply": quote}, body
        assert body["content"] == "yes"

    # the original recalled: every reader of the reply sees the quote recalled
    alice.call("POST", f"/api/message/{qid}/recall")
    [_, reply] = bob.history(cid)
    assert reply["id"] == int(answer["message-id"]) and reply["replyTo"] == qid
    assert reply["extra"]["reply"] == quote | {"content": "", "recalled": True}
    assert carol.history(cid)[1]["extra"]["reply"]["recalled"] is True

    # a reply to a message already recalled quotes it recalled from the start
    later = alice_dev.stored(GROUP, {"groupId": gid, "content": "me too", "replyTo": qid})
    [*_, stored] = alice.history(cid)
    assert stored["id"] == int(later["message-id"])
    assert stored["extra"]["reply"] == quote | {"content": "", "recalled": True}

    # a reply must quote a message of the same conversation
    alice.befriend(dave)
    private = alice_dev.stored(PRIVATE, {"toUserId": bob.id, "content": "psst"})
    assert refused(alice_dev, GROUP, {"groupId": gid, "content": "x",
                                      "replyTo": int(private["message-id"])}) == "3002"
    assert refused(alice_dev, GROUP, {"groupId": gid, "content": "x",
                                      "replyTo": 999999}) == "3002"
    # a client cannot write the quote itself
    assert refused(alice_dev, GROUP, {"groupId": gid, "type": "custom",
                                      "extra": {"reply": {"messageId": 1}}}) == "9001"
    time.sleep(0.2)
    assert [m.headers.get("x-event") for m in outsider.log.messages] == [], "dave heard the group"


def test_forward_checks_source_and_target(node: FullNode, devices: Devices) -> None:
    alice, bob, carol, erin = (Person(node, n) for n in ("alice", "bob", "carol", "erin"))
    alice.befriend(bob)
    alice.befriend(carol)
    gid = alice.group_with("g", bob, carol)
    topic = f"/topic/chat/{gid}"
    alice_dev, bob_dev, carol_dev = (devices.device(p) for p in (alice, bob, carol))
    for dev in (alice_dev, bob_dev, carol_dev):
        dev.subscribe(topic, "g")
    erin_dev = devices.device(erin)
    erin_dev.subscribe("/user/queue/chat", "q")

    original = bob_dev.stored(PRIVATE, {"toUserId": alice.id, "content": "the plan",
                                        "clientMsgId": "p-1"})
    oid = int(original["message-id"])
    # alice (a participant) forwards bob's private message into the group
    fwd = alice_dev.stored(GROUP, {"groupId": gid, "forwardFrom": oid, "clientMsgId": "f-1"})
    got = carol_dev.wait_on("g", 1, "the forward")
    body = json_of(got[0])
    assert body["id"] == int(fwd["message-id"]) and body["fromUserId"] == alice.id
    assert body["type"] == "text" and body["content"] == "the plan"
    forward = body["extra"]["forward"]
    assert forward["messageId"] == oid and forward["fromUserId"] == bob.id
    assert forward["chatType"] == "private"
    # resending the forward stores nothing twice
    again = alice_dev.receipt(alice_dev.send_json(GROUP, {"groupId": gid, "forwardFrom": oid,
                                                          "clientMsgId": "f-1"}))
    assert again["message-id"] == fwd["message-id"] and again["x-duplicate"] == "true"

    # carol is in the group but not in bob and alice's chat: she cannot read the source
    carol.befriend(bob)
    assert refused(carol_dev, PRIVATE, {"toUserId": bob.id, "forwardFrom": oid}) == "3002"
    # forwarding the group's copy onwards keeps the first origin
    onward = carol_dev.stored(PRIVATE, {"toUserId": bob.id,
                                        "forwardFrom": int(fwd["message-id"])})
    [copy] = [m for m in carol.history(onward["conversation-id"])
              if m["id"] == int(onward["message-id"])]
    assert copy["extra"]["forward"]["messageId"] == oid
    # the target's rights hold: alice and erin are not friends
    assert refused(alice_dev, PRIVATE, {"toUserId": erin.id, "forwardFrom": oid}) == "2003"
    # a recalled message is not forwarded
    bob.call("POST", f"/api/message/{oid}/recall")
    assert refused(alice_dev, GROUP, {"groupId": gid, "forwardFrom": oid}) == "3002"
    outsider_hears_nothing(erin_dev)


def test_forwarded_image_is_readable_at_the_target(node: FullNode, devices: Devices) -> None:
    """The file of a forwarded image is checked again for the forwarder (who may read it,
    being in the source chat) and becomes readable to the target's members."""
    alice, bob, carol = (Person(node, n) for n in ("alice", "bob", "carol"))
    alice.befriend(bob)
    bob.befriend(carol)
    gid = bob.group_with("g", carol)
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 20, 20)).save(picture, "PNG")
    uploaded = upload(node, alice, picture.getvalue(), "red.png")
    original = devices.device(alice).stored(
        PRIVATE, {"toUserId": bob.id, "type": "image", "fileId": uploaded["fileId"]}
    )
    url = f"http://127.0.0.1:{node.ports.http}/api/file/{uploaded['fileId']}/info"
    assert fetch(url, token=carol.token)[0] == 403  # not yet: carol is not in that chat
    carol_dev = devices.device(carol)
    carol_dev.subscribe(f"/topic/chat/{gid}", "g")
    devices.device(bob).stored(GROUP, {"groupId": gid,
                                       "forwardFrom": int(original["message-id"])})
    [got] = carol_dev.settled("g", 1, "the forwarded image")
    body = json_of(got)
    assert body["type"] == "image" and body["extra"]["fileId"] == uploaded["fileId"]
    assert body["extra"]["forward"]["fromUserId"] == alice.id
    status, image = fetch(body["extra"]["url"])
    assert status == 200 and image.startswith(b"\x89PNG")
    assert fetch(url, token=carol.token)[0] == 200
