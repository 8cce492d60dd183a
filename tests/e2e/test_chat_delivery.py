"""Chat delivery with stomp.py over TCP (issue 5): private and group round trips, the
RECEIPT meaning "stored", and a resent clientMsgId storing nothing twice.

Each test runs on both deployments (SQLite + in-process KV; MariaDB + Redis).
"""

from __future__ import annotations

from interop._fullnode import FullNode

from ._actors import Devices, Person, json_of, stored_id

PRIVATE = "/app/chat/private"


def test_private_round_trip_receipt_and_message_headers(node: FullNode, devices: Devices) -> None:
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    bob_phone = devices.device(bob)
    bob_phone.subscribe("/user/queue/chat", "chat")
    alice_web = devices.device(alice)

    sent = {"toUserId": bob.id, "type": "text", "content": "héllo, bob", "clientMsgId": "c-1"}
    receipt = alice_web.stored(PRIVATE, sent)
    message_id, cid = int(receipt["message-id"]), int(receipt["conversation-id"])
    assert int(receipt["seq"]) == 1 and message_id > 0 and cid > 0
    assert "x-duplicate" not in receipt

    [delivered] = bob_phone.settled("chat", 1, "the private message")
    h = delivered.headers
    assert stored_id(h) == str(message_id)
    # On the user's private queue the `seq` header is the (global) message id, the
    # conversation's own seq is x-conversation-seq (chat_handler.py, resume semantics).
    assert h["seq"] == str(message_id) and h["x-conversation-seq"] == "1"
    assert h["conversation-id"] == str(cid)
    assert h["content-type"].startswith("application/json")
    assert h["destination"] == f"/queue/chat/{bob.id}"
    body = json_of(delivered)
    assert body == body | {
        "id": message_id, "seq": 1, "conversationId": cid, "chatType": "private",
        "fromUserId": alice.id, "toUserId": bob.id, "type": "text",
        "content": "héllo, bob", "clientMsgId": "c-1", "status": 0,
    }
    assert isinstance(body["createdAt"], int) and body["createdAt"] > 0

    # The peer answers on the same conversation; alice's own queue hears both.
    alice_web.subscribe("/user/queue/chat", "chat")
    reply = bob_phone.stored(PRIVATE, {"toUserId": alice.id, "type": "text", "content": "hi!"})
    assert reply["conversation-id"] == str(cid) and reply["seq"] == "2"
    [answer] = alice_web.wait_on("chat", 1, "bob's reply")
    assert json_of(answer)["content"] == "hi!" and stored_id(answer.headers) == reply["message-id"]


def test_receipt_only_after_the_row_exists(node: FullNode, devices: Devices) -> None:
    """On each RECEIPT, history read at once over REST already has the message."""
    alice, bob, carol = Person(node, "alice"), Person(node, "bob"), Person(node, "carol")
    alice.befriend(bob)
    alice.befriend(carol)
    gid = alice.group_with("g", bob, carol)
    dev = devices.device(alice)
    for n in range(1, 6):
        private = dev.stored(PRIVATE, {"toUserId": bob.id, "type": "text", "content": f"p{n}"})
        newest = bob.history(private["conversation-id"], limit=1)
        assert [(m["id"], m["seq"], m["content"]) for m in newest] == [
            (int(private["message-id"]), n, f"p{n}")]
        group = dev.stored(f"/topic/chat/{gid}", {"type": "text", "content": f"g{n}"})
        newest = carol.history(group["conversation-id"], limit=1)
        assert [(m["id"], m["seq"], m["content"]) for m in newest] == [
            (int(group["message-id"]), n, f"g{n}")]


def test_group_round_trip_reaches_all_three_members(node: FullNode, devices: Devices) -> None:
    owner, bob, carol = Person(node, "owner"), Person(node, "bob"), Person(node, "carol")
    owner.befriend(bob)
    owner.befriend(carol)
    gid = owner.group_with("team", bob, carol)
    topic = f"/topic/chat/{gid}"
    devs = {p.name: devices.device(p) for p in (owner, bob, carol)}
    for dev in devs.values():
        dev.subscribe(topic, "g")

    first = devs["bob"].stored(
        topic, {"type": "text", "content": "hello team", "clientMsgId": "b1"}
    )
    second = devs["carol"].stored(
        "/app/chat/group", {"groupId": gid, "type": "text", "content": "hi bob"}
    )
    assert (first["seq"], second["seq"]) == ("1", "2")
    assert first["conversation-id"] == second["conversation-id"]
    for name, dev in devs.items():
        got = dev.settled("g", 2, f"both group messages at {name}")
        assert [json_of(m)["content"] for m in got] == ["hello team", "hi bob"]
        assert [m.headers["seq"] for m in got] == ["1", "2"]
        assert [stored_id(m.headers) for m in got] == [first["message-id"], second["message-id"]]
        assert {m.headers["conversation-id"] for m in got} == {first["conversation-id"]}
        assert all(m.headers["destination"] == topic for m in got)
        body = json_of(got[0])
        assert body == body | {
            "chatType": "group",
            "groupId": gid,
            "fromUserId": bob.id,
            "clientMsgId": "b1",
            "seq": 1,
        }
    # unread = last_seq - read_seq, and sending moves the sender's cursor to its message:
    # carol's message (seq 2) came after bob's, so she has read everything
    unread = {p.name: p.call("GET", "/api/conversation/unread-total") for p in (owner, bob, carol)}
    assert unread == {"owner": 2, "bob": 1, "carol": 0}


def test_duplicate_client_msg_id_is_stored_once(node: FullNode, devices: Devices) -> None:
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    bob_dev = devices.device(bob)
    bob_dev.subscribe("/user/queue/chat", "chat")
    alice_dev = devices.device(alice)

    body = {"toUserId": bob.id, "type": "text", "content": "once", "clientMsgId": "dup-1"}
    first = alice_dev.stored(PRIVATE, body)
    again = alice_dev.stored(PRIVATE, body)  # a client retrying after a lost RECEIPT
    # the same id as a header instead of in the body (x-client-msg-id wins)
    header = alice_dev.stored(
        PRIVATE,
        {"toUserId": bob.id, "type": "text", "content": "once"},
        **{"x-client-msg-id": "dup-1"},
    )
    for later in (again, header):
        assert later["message-id"] == first["message-id"]
        assert later["seq"] == first["seq"] == "1"
        assert later.get("x-duplicate") == "true"
    history = alice.history(first["conversation-id"])
    assert [(m["id"], m["clientMsgId"]) for m in history] == [(int(first["message-id"]), "dup-1")]
    bob_dev.settled("chat", 1, "a single delivery")
    [conv] = bob.call("GET", "/api/conversation/list")["list"]
    assert conv["unreadCount"] == 1 and conv["lastSeq"] == 1
