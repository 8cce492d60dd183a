"""clientMsgId under stress (issue 5): two devices of one user racing with the same ids
store one copy each; an id reused for another conversation never acknowledges a
message the client did not send there. stomp.py over TCP, both deployments.
"""

from __future__ import annotations

import json

from interop._fullnode import FullNode

from ._actors import Device, Devices, Person, json_of

PRIVATE = "/app/chat/private"
RACES = 20


def test_two_devices_racing_with_the_same_client_ids_store_one_copy_each(
    node: FullNode, devices: Devices
) -> None:
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    bob_dev = devices.device(bob)
    bob_dev.subscribe("/user/queue/chat", "q")
    phone = devices.device(alice, label="phone")
    laptop = devices.device(alice, token=alice.login()["token"], label="laptop")
    # Pipelined: both connections have every SEND in flight before any RECEIPT is read.
    sent: dict[str, list[str]] = {"phone": [], "laptop": []}
    for n in range(RACES):
        for dev in (phone, laptop):
            body = {"toUserId": bob.id, "type": "text", "content": f"m{n}",
                    "clientMsgId": f"race-{n}"}
            sent[dev.label].append(dev.send_json(PRIVATE, body))
    by_device = {dev.label: [dev.receipt(r, timeout=15) for r in sent[dev.label]]
                 for dev in (phone, laptop)}
    for n in range(RACES):
        a, b = by_device["phone"][n], by_device["laptop"][n]
        assert a["message-id"] == b["message-id"], (n, a, b)
        assert [a.get("x-duplicate"), b.get("x-duplicate")].count("true") == 1, (n, a, b)
    cid = by_device["phone"][0]["conversation-id"]
    history = alice.history(cid, limit=100)
    assert [m["clientMsgId"] for m in history] == [f"race-{n}" for n in range(RACES)]
    assert [m["seq"] for m in history] == list(range(1, RACES + 1))
    delivered = bob_dev.settled("q", RACES, "one delivery per message")
    assert [json_of(m)["clientMsgId"] for m in delivered] == [f"race-{n}" for n in range(RACES)]


def test_client_id_reused_for_another_conversation_is_not_acknowledged_as_sent(
    node: FullNode, devices: Devices
) -> None:
    """A front end numbering its messages per conversation reuses ids across chats. The
    second chat's message must be stored there, or refused — a RECEIPT naming the first
    chat's message would tell the user "sent" for a message nobody gets."""
    alice, bob, carol = Person(node, "alice"), Person(node, "bob"), Person(node, "carol")
    alice.befriend(bob)
    alice.befriend(carol)
    carol_dev = devices.device(carol)
    carol_dev.subscribe("/user/queue/chat", "q")
    alice_dev = devices.device(alice)
    alice_dev.subscribe("/user/queue/errors", "errors")
    to_bob = alice_dev.stored(PRIVATE, {"toUserId": bob.id, "type": "text",
                                        "content": "for bob", "clientMsgId": "1"})
    receipt = alice_dev.send_json(PRIVATE, {"toUserId": carol.id, "type": "text",
                                            "content": "for carol", "clientMsgId": "1"})
    got = alice_dev.receipt(receipt)   # one answer either way: stored or refused
    if "message-id" in got:  # stored: in carol's conversation, delivered to her
        assert "x-error-code" not in got, got
        assert got["conversation-id"] != to_bob["conversation-id"], got
        assert got["message-id"] != to_bob["message-id"], got
        [delivered] = carol_dev.settled("q", 1, "the message for carol")
        assert json.loads(delivered.body)["content"] == "for carol"
    else:  # refused, with the receipt id, and nothing stored for carol
        assert got["x-error-code"] == "3001", got
        [refusal] = alice_dev.wait_on("errors", 1, "the refusal notice")
        assert refusal.headers["receipt-id"] == receipt
        assert refusal.headers["code"] == "3001"  # message send failed
        assert carol.call("GET", "/api/conversation/list")["list"] == []


def test_client_id_raced_into_two_conversations_is_stored_in_exactly_one(
    node: FullNode, devices: Devices
) -> None:
    """Two devices send the same clientMsgId to two different peers at once (one group
    commit batch may hold both): one is stored, the other refused; no RECEIPT ever names
    a message of a conversation its SEND did not target."""
    alice, bob, carol = Person(node, "alice"), Person(node, "bob"), Person(node, "carol")
    alice.befriend(bob)
    alice.befriend(carol)
    phone = devices.device(alice, label="phone")
    laptop = devices.device(alice, token=alice.login()["token"], label="laptop")
    for dev in (phone, laptop):
        dev.subscribe("/user/queue/errors", "errors")
    rounds = 10
    sent: dict[str, list[str]] = {"phone": [], "laptop": []}
    for n in range(rounds):
        for dev, peer in ((phone, bob), (laptop, carol)):
            sent[dev.label].append(dev.send_json(
                PRIVATE, {"toUserId": peer.id, "type": "text", "content": f"{n}",
                          "clientMsgId": f"x-{n}"}))
    def answered(dev: Device) -> int:
        return sum(r in dev.log.receipt_headers for r in sent[dev.label])

    for dev in (phone, laptop):
        dev.log.wait(lambda dev=dev: answered(dev) == rounds,
                     f"an answer to every SEND of {dev.label}", timeout=15)
    conversation = {}
    for dev in (phone, laptop):
        conversation[dev.label] = {
            h["conversation-id"] for h in dev.log.receipt_headers.values() if "message-id" in h}
    stored = 0
    for n in range(rounds):
        answers = []
        for dev in (phone, laptop):
            receipt = sent[dev.label][n]
            got = dev.log.receipt_headers[receipt]
            acked = "message-id" in got
            assert acked != ("x-error-code" in got), (n, dev.label, got)
            answers.append("acked" if acked else "refused")
            if not acked:
                assert got["x-error-code"] == "3001"
                notice = dev.wait_on("errors", 1, "refusal notices")
                assert receipt in {m.headers["receipt-id"] for m in notice}
        assert sorted(answers) == ["acked", "refused"], (n, answers)
        stored += 1
    # each device's receipts name only its own target's conversation
    assert len(conversation["phone"]) <= 1 and len(conversation["laptop"]) <= 1
    assert not conversation["phone"] & conversation["laptop"]
    total = sum(len(alice.history(c, limit=100))
                for c in conversation["phone"] | conversation["laptop"])
    assert total == stored == rounds
