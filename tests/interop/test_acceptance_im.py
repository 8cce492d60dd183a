"""Acceptance of the IM features with real clients against a whole node, on both
deployments (SQLite with the in-process store; MariaDB + Redis).

stomp.py over TCP plays the mobile clients, STOMP.js under Node the browser. Users,
friendships and groups are made over REST exactly as a front end does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stomp

from ._fullnode import FullNode
from ._loop import LoopThread
from ._node import run_scenario
from ._stomppy import Received, Recorder

PASSWORD = "accept-passw0rd"


@pytest.fixture
def node(
    loop_thread: LoopThread, tmp_path: Path, node_backend: dict[str, dict[str, str]]
) -> Iterator[FullNode]:
    full = FullNode(loop_thread, tmp_path / "im.db", node_backend)
    full.start()
    try:
        yield full
    finally:
        full.stop()


class User:
    """A registered, logged-in user and the REST calls made on their behalf."""

    def __init__(self, node: FullNode, name: str) -> None:
        self.node = node
        self.name = name
        assert self.call("POST", "/api/user/register", {"username": name, "password": PASSWORD},
                         auth=False)["username"] == name
        login = self.call("POST", "/api/user/login", {"username": name, "password": PASSWORD},
                          auth=False)
        self.token: str = login["token"]
        self.id: int = int(login["user"]["id"])

    def call(self, method: str, path: str, body: Any = None, *, auth: bool = True,
             expect: int = 200) -> Any:
        status, envelope = self.node.rest(method, path, body, self.token if auth else None)
        assert envelope["code"] == expect, (method, path, status, envelope)
        return envelope["data"]

    def befriend(self, other: User) -> None:
        request = self.call("POST", "/api/friend/request", {"toUserId": other.id, "message": "hi"})
        other.call("POST", f"/api/friend/request/{request['id']}/accept")

    def stomp(self) -> StompDevice:
        return StompDevice(self)


class ReceiptRecorder(Recorder):
    """A Recorder that keeps each RECEIPT's headers (message-id, seq, conversation-id)."""

    def __init__(self) -> None:
        super().__init__()
        self.receipt_headers: dict[str, dict[str, str]] = {}

    def on_receipt(self, frame: Any) -> None:
        self.receipt_headers[frame.headers["receipt-id"]] = dict(frame.headers)
        super().on_receipt(frame)


class StompDevice:
    """One stomp.py connection (TCP, STOMP 1.2) of a user, authenticated by token."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.rec = ReceiptRecorder()
        self.conn = stomp.Connection12([("127.0.0.1", user.node.ports.tcp)],
                                       reconnect_attempts_max=1)
        self.conn.set_listener("rec", self.rec)
        self.conn.connect(headers={"Authorization": f"Bearer {user.token}"}, wait=False)
        self.rec.wait(lambda: self.rec.connected is not None or bool(self.rec.errors), "CONNECTED")
        assert not self.rec.errors, self.rec.errors
        self._n = 0

    def receipt(self) -> str:
        self._n += 1
        return f"{self.user.name}-{self._n}"

    def subscribe(self, destination: str, sub_id: str, **headers: str) -> None:
        receipt = self.receipt()
        self.conn.subscribe(destination, id=sub_id, receipt=receipt, headers=headers)
        self.rec.wait_receipt(receipt)

    def send_json(self, destination: str, body: dict[str, Any]) -> str:
        receipt = self.receipt()
        self.conn.send(destination, json.dumps(body), content_type="application/json",
                       receipt=receipt)
        return receipt

    def receipt_frame(self, receipt: str) -> dict[str, str]:
        """Headers of the RECEIPT (stomp.py hands only the id to listeners; ask its frames)."""
        self.rec.wait_receipt(receipt)
        return self.rec.receipt_headers[receipt]

    def messages_on(self, sub_id: str) -> list[Received]:
        return [m for m in self.rec.messages if m.headers.get("subscription") == sub_id]

    def wait_on(self, sub_id: str, count: int, what: str) -> list[Received]:
        self.rec.wait(lambda: len(self.messages_on(sub_id)) >= count, what)
        return self.messages_on(sub_id)

    def close(self) -> None:
        if self.conn.is_connected():
            self.conn.disconnect()
        self.conn.transport.disconnect_socket()


@pytest.fixture
def devices() -> Iterator[list[StompDevice]]:
    opened: list[StompDevice] = []
    yield opened
    for device in opened:
        device.close()


def open_device(user: User, devices: list[StompDevice]) -> StompDevice:
    device = StompDevice(user)
    devices.append(device)
    return device


# -- notifications (friends and groups) ---------------------------------------------


def test_notifications_arrive_live_over_stomp_and_later_over_rest(
    node: FullNode, devices: list[StompDevice]
) -> None:
    alice, bob, carol = User(node, "alice"), User(node, "bob"), User(node, "carol")
    bob_phone = open_device(bob, devices)
    bob_phone.subscribe("/user/queue/notification", "n")
    alice_web = open_device(alice, devices)
    alice_web.subscribe("/user/queue/notification", "n")

    request = alice.call("POST", "/api/friend/request", {"toUserId": bob.id, "message": "hey"})
    [pushed] = bob_phone.wait_on("n", 1, "FRIEND_REQUEST push")
    note = json.loads(pushed.body)
    assert note["type"] == "FRIEND_REQUEST" and note["userId"] == bob.id
    assert pushed.headers["destination"] == f"/queue/notification/{bob.id}"

    bob.call("POST", f"/api/friend/request/{request['id']}/accept")
    [accepted] = alice_web.wait_on("n", 1, "FRIEND_ACCEPTED push")
    assert json.loads(accepted.body)["type"] == "FRIEND_ACCEPTED"

    # carol was offline: the request waits for her in the notification center
    alice.call("POST", "/api/friend/request", {"toUserId": carol.id, "message": "hello"})
    page = carol.call("GET", "/api/notification?page=1&size=10")
    assert [n["type"] for n in page["list"]] == ["FRIEND_REQUEST"]
    assert carol.call("GET", "/api/notification/unread-count") == 1


def test_kicked_member_loses_the_group_topic_and_cannot_resubscribe(
    node: FullNode, devices: list[StompDevice]
) -> None:
    owner, bob, carol = User(node, "owner"), User(node, "bob"), User(node, "carol")
    owner.befriend(bob)
    owner.befriend(carol)
    group = owner.call("POST", "/api/group", {"name": "team", "memberIds": [bob.id, carol.id]})
    gid = group["id"]
    topic = f"/topic/chat/{gid}"
    bob_dev, carol_dev, owner_dev = (open_device(u, devices) for u in (bob, carol, owner))
    for dev in (bob_dev, carol_dev):
        dev.subscribe(topic, "g")
    bob_dev.subscribe("/user/queue/notification", "n")

    owner_dev.receipt_frame(owner_dev.send_json(topic, {"type": "text", "content": "one"}))
    bob_dev.wait_on("g", 1, "first group message")

    owner.call("DELETE", f"/api/group/{gid}/member/{bob.id}")
    kicked = bob_dev.wait_on("n", 1, "GROUP_KICKED push")
    assert json.loads(kicked[0].body)["type"] == "GROUP_KICKED"

    owner_dev.receipt_frame(owner_dev.send_json(topic, {"type": "text", "content": "two"}))
    carol_dev.wait_on("g", 2, "second group message at a member")
    assert [json.loads(m.body)["content"] for m in bob_dev.messages_on("g")] == ["one"]

    bob_dev.conn.subscribe(topic, id="again", receipt="resub")
    bob_dev.rec.wait(lambda: bool(bob_dev.rec.errors), "ERROR for a non-member SUBSCRIBE")
    assert "resub" not in bob_dev.rec.receipts


# -- chat ------------------------------------------------------------------------------


def test_private_chat_round_trip_receipt_after_commit_and_duplicates(
    node: FullNode, devices: list[StompDevice]
) -> None:
    alice, bob = User(node, "alice"), User(node, "bob")
    alice.befriend(bob)
    bob_dev = open_device(bob, devices)
    bob_dev.subscribe("/user/queue/chat", "c")
    alice_dev = open_device(alice, devices)

    body = {"toUserId": bob.id, "type": "text", "content": "héllo", "clientMsgId": "m-1"}
    receipt = alice_dev.receipt_frame(alice_dev.send_json("/app/chat/private", body))
    message_id, cid = int(receipt["message-id"]), int(receipt["conversation-id"])
    assert int(receipt["seq"]) == 1
    # a receipt means "stored": the history has it at once
    history = alice.call("GET", f"/api/message/history?conversationId={cid}")
    assert [(m["id"], m["content"]) for m in history] == [(message_id, "héllo")]

    [delivered] = bob_dev.wait_on("c", 1, "private message")
    assert delivered.headers["message-id"] == str(message_id)
    assert delivered.headers["conversation-id"] == str(cid)
    assert delivered.headers["content-type"] == "application/json"
    stored = json.loads(delivered.body)
    assert stored["id"] == message_id and stored["fromUserId"] == alice.id
    assert stored["toUserId"] == bob.id and stored["chatType"] == "private"
    assert stored["clientMsgId"] == "m-1" and stored["content"] == "héllo"

    again = alice_dev.receipt_frame(alice_dev.send_json("/app/chat/private", body))
    assert again["message-id"] == str(message_id)
    assert len(alice.call("GET", f"/api/message/history?conversationId={cid}")) == 1
    listed = bob.call("GET", "/api/conversation/list")["list"]
    assert [(c["targetId"], c["unreadCount"]) for c in listed] == [(alice.id, 1)]


def test_refusals_go_to_user_queue_errors_and_the_connection_stays(
    node: FullNode, devices: list[StompDevice]
) -> None:
    alice, bob, stranger = User(node, "alice"), User(node, "bob"), User(node, "stranger")
    alice.befriend(bob)
    bob.call("POST", f"/api/friend/blacklist/{alice.id}")
    alice_dev = open_device(alice, devices)
    alice_dev.subscribe("/user/queue/errors", "e")

    blocked = alice_dev.send_json("/app/chat/private", {"toUserId": bob.id, "type": "text",
                                                         "content": "x"})
    [refusal] = alice_dev.wait_on("e", 1, "refusal for a blocked send")
    assert json.loads(refusal.body)["code"] == 2005
    assert json.loads(refusal.body)["receipt"] == blocked
    not_friend = alice_dev.send_json(f"/queue/chat/{stranger.id}", {"type": "text",
                                                                     "content": "x"})
    second = alice_dev.wait_on("e", 2, "refusal for a stranger")[1]
    assert json.loads(second.body)["code"] == 2003
    assert json.loads(second.body)["receipt"] == not_friend
    assert blocked not in alice_dev.rec.receipts and not_friend not in alice_dev.rec.receipts
    # still connected: a later generic send gets its receipt
    ok = alice_dev.receipt()
    alice_dev.conn.send("/topic/still-here", "ping", receipt=ok)
    alice_dev.rec.wait_receipt(ok)
    assert not alice_dev.rec.errors


def test_group_resume_replays_exactly_what_was_missed(
    node: FullNode, devices: list[StompDevice]
) -> None:
    owner, bob = User(node, "owner"), User(node, "bob")
    owner.befriend(bob)
    gid = owner.call("POST", "/api/group", {"name": "g", "memberIds": [bob.id]})["id"]
    topic = f"/topic/chat/{gid}"
    owner_dev = open_device(owner, devices)
    bob_dev = open_device(bob, devices)
    bob_dev.subscribe(topic, "g")
    owner_dev.receipt_frame(owner_dev.send_json(topic, {"type": "text", "content": "m1"}))
    [first] = bob_dev.wait_on("g", 1, "m1")
    seen = int(first.headers["seq"])
    bob_dev.close()

    for n in range(2, 7):  # sent while bob is away
        owner_dev.receipt_frame(owner_dev.send_json(topic, {"type": "text", "content": f"m{n}"}))
    back = open_device(bob, devices)
    back.subscribe(topic, "g", **{"x-since-seq": str(seen)})
    owner_dev.receipt_frame(owner_dev.send_json(topic, {"type": "text", "content": "m7"}))
    got = back.wait_on("g", 6, "replay then live")
    time.sleep(0.2)  # a duplicate would arrive right behind
    got = back.messages_on("g")
    assert [json.loads(m.body)["content"] for m in got] == [f"m{n}" for n in range(2, 8)]
    assert [int(m.headers["seq"]) for m in got] == list(range(seen + 1, seen + 7))


def test_read_marker_reaches_the_other_device_and_unread_drops(
    node: FullNode, devices: list[StompDevice]
) -> None:
    alice, bob = User(node, "alice"), User(node, "bob")
    alice.befriend(bob)
    alice_dev = open_device(alice, devices)
    bob_phone, bob_laptop = open_device(bob, devices), open_device(bob, devices)
    for dev in (bob_phone, bob_laptop):
        dev.subscribe("/user/queue/chat", "c")
    receipts = [alice_dev.receipt_frame(alice_dev.send_json(
        "/app/chat/private", {"toUserId": bob.id, "type": "text", "content": f"n{i}"}))
        for i in range(3)]
    cid = int(receipts[0]["conversation-id"])
    bob_laptop.wait_on("c", 3, "three messages on the laptop")
    assert bob.call("GET", "/api/conversation/unread-total") == 3

    bob.call("POST", "/api/message/read", {"conversationId": cid, "seq": 2})
    bob_laptop.rec.wait(
        lambda: any(m.headers.get("x-event") == "read" for m in bob_laptop.messages_on("c")),
        "read event on the other device")
    event = next(json.loads(m.body) for m in bob_laptop.messages_on("c")
                 if m.headers.get("x-event") == "read")
    assert event["conversationId"] == cid and event["seq"] == 2
    [conv] = bob.call("GET", "/api/conversation/list")["list"]
    assert conv["unreadCount"] == 1
    bob.call("POST", "/api/message/read", {"conversationId": cid, "seq": 1})  # never backwards
    assert bob.call("GET", "/api/conversation/unread-total") == 1


def test_recall_inside_the_window_clears_the_content(
    node: FullNode, devices: list[StompDevice]
) -> None:
    alice, bob = User(node, "alice"), User(node, "bob")
    alice.befriend(bob)
    bob_dev = open_device(bob, devices)
    bob_dev.subscribe("/user/queue/chat", "c")
    alice_dev = open_device(alice, devices)
    receipt = alice_dev.receipt_frame(alice_dev.send_json(
        "/app/chat/private", {"toUserId": bob.id, "type": "text", "content": "oops"}))
    alice.call("POST", f"/api/message/{receipt['message-id']}/recall")
    bob_dev.rec.wait(
        lambda: any(m.headers.get("x-event") == "recall" for m in bob_dev.messages_on("c")),
        "recall event")
    [stored] = bob.call("GET", f"/api/message/history?conversationId={receipt['conversation-id']}")
    assert stored["status"] == 1 and not stored["content"]
    # the peer cannot recall a message that is not theirs (9003 forbidden)
    bob.call("POST", f"/api/message/{receipt['message-id']}/recall", expect=9003)


@pytest.mark.node
def test_stompjs_private_chat_with_resume_on_the_private_queue(
    js_dir: Path, node: FullNode, devices: list[StompDevice]
) -> None:
    alice, bob = User(node, "alice"), User(node, "bob")
    alice.befriend(bob)
    alice_dev = open_device(alice, devices)
    first = alice_dev.receipt_frame(alice_dev.send_json(
        "/app/chat/private", {"toUserId": bob.id, "type": "text", "content": "before"}))
    missed = [alice_dev.receipt_frame(alice_dev.send_json(
        "/app/chat/private", {"toUserId": bob.id, "type": "text", "content": f"missed{i}"}))
        for i in range(3)]
    # The browser comes back knowing message `first`: it asks for what came after.
    result = run_scenario(js_dir, {
        "url": node.ws_url,
        "connectHeaders": {"Authorization": f"Bearer {bob.token}"},
        "steps": [
            {"op": "connect"},
            {"op": "subscribe", "destination": "/user/queue/chat", "id": "c",
             "headers": {"x-since-seq": first["message-id"]}},
            {"op": "expect", "count": 3},
            {"op": "publish", "destination": "/app/chat/private",
             "body": json.dumps({"toUserId": alice.id, "type": "text", "content": "reply"})},
            {"op": "expect", "count": 4},
        ],
    })
    assert result["ok"], result
    bodies = [json.loads(m["body"]) for m in result["received"]]
    assert [b["content"] for b in bodies] == ["missed0", "missed1", "missed2", "reply"]
    assert [b["id"] for b in bodies[:3]] == [int(r["message-id"]) for r in missed]
    # the reply was stored and reached alice's history
    cid = first["conversation-id"]
    history = alice.call("GET", f"/api/message/history?conversationId={cid}")
    assert [m["content"] for m in history][-1] == "reply"
