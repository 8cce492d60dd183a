"""Business refusals of chat SENDs (issue 5), with stomp.py over TCP.

A refused SEND gets no RECEIPT; the refusal arrives as a MESSAGE on the sender's
/user/queue/errors subscription with a `code` header, the refused frame's receipt
id (`receipt-id` header and `receipt` in the body), and the connection stays open.
"""

from __future__ import annotations

from interop._fullnode import FullNode

from ._actors import Devices, Person, json_of

BLOCKED = 2005
NOT_FRIENDS = 2003
NOT_GROUP_MEMBER = 4002


def test_refusals_arrive_on_user_queue_errors_and_the_connection_stays(
    node: FullNode, devices: Devices
) -> None:
    alice, bob, carol, dave = (Person(node, n) for n in ("alice", "bob", "carol", "dave"))
    alice.befriend(bob)
    alice.befriend(carol)
    carol.befriend(dave)
    bob.call("POST", f"/api/friend/blacklist/{alice.id}")  # bob blocks alice
    gid = carol.group_with("carols", dave)  # alice is not a member

    alice_dev = devices.device(alice)
    alice_dev.subscribe("/user/queue/errors", "errors")
    carol_dev = devices.device(carol)
    carol_dev.subscribe("/user/queue/chat", "chat")
    dave_dev = devices.device(dave)
    dave_dev.subscribe(f"/topic/chat/{gid}", "g")

    attempts = [
        (alice_dev.send_json("/app/chat/private",
                             {"toUserId": bob.id, "type": "text", "content": "blocked"}), BLOCKED),
        (alice_dev.send_json(f"/queue/chat/{dave.id}", {"type": "text", "content": "stranger"}),
         NOT_FRIENDS),
        (alice_dev.send_json(f"/topic/chat/{gid}", {"type": "text", "content": "intruder"}),
         NOT_GROUP_MEMBER),
        (alice_dev.send_json("/app/chat/group", {"groupId": gid, "type": "text",
                                                 "content": "intruder"}), NOT_GROUP_MEMBER),
    ]
    refusals = alice_dev.wait_on("errors", len(attempts), "refusals")
    for (receipt, code), refusal in zip(attempts, refusals, strict=True):
        assert refusal.headers["code"] == str(code), refusal
        assert refusal.headers["receipt-id"] == receipt, refusal
        assert refusal.headers["destination"] == f"/queue/errors/{alice.id}"
        body = json_of(refusal)
        assert body["code"] == code and body["receipt"] == receipt and body["message"]

    # the connection is still open: a later, allowed send is stored and delivered
    ok = alice_dev.stored("/app/chat/private",
                          {"toUserId": carol.id, "type": "text", "content": "still here"})
    assert ok["seq"] == "1"
    [delivered] = carol_dev.settled("chat", 1, "the allowed message")
    assert json_of(delivered)["content"] == "still here"
    assert alice_dev.connected and not alice_dev.log.errors
    # every refused frame got its refusal RECEIPT (no message-id), nothing stored or delivered
    for receipt, code in attempts:
        got = alice_dev.receipt(receipt)
        assert got["x-error-code"] == str(code) and "message-id" not in got, got
    assert dave_dev.on("g") == []
    conversations = alice.call("GET", "/api/conversation/list")["list"]
    assert [c["targetId"] for c in conversations] == [carol.id]
