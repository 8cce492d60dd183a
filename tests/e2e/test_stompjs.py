"""The browser's view (issues 3 and 5): @stomp/stompjs 7 under Node over WebSocket, driven
by the scenario runner of tests/interop/js, against a whole node on both deployments.

Covers the account flow (register, login, STOMP.js with the token, logout ends it),
the private round trip, refusals on /user/queue/errors with the connection kept, and
resume with x-since-seq on the group topic and the private queue. The other side of
each conversation is stomp.py over TCP (`Device`), so both transports meet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from interop._fullnode import FullNode
from interop._node import NodeRun, run_scenario

from ._actors import Devices, Person, json_of, stored_id

pytestmark = pytest.mark.node

PRIVATE = "/app/chat/private"


def scenario(node: FullNode, token: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "url": node.ws_url,
        "connectHeaders": {"Authorization": f"Bearer {token}"},
        "timeoutMs": 25000,
        "steps": steps,
    }


@contextmanager
def running(js_dir: Path, spec: dict[str, Any]) -> Iterator[NodeRun]:
    run = NodeRun(js_dir, spec)
    try:
        run.start()
        yield run
    finally:
        run.close()


def on(result: dict[str, Any], sub_id: str) -> list[dict[str, Any]]:
    return [m for m in result["received"] if m["subscription"] == sub_id]


def contents(messages: list[dict[str, Any]]) -> list[str]:
    return [json.loads(m["body"])["content"] for m in messages]


def test_account_flow_register_login_stompjs_logout(
    js_dir: Path, node: FullNode, devices: Devices
) -> None:
    """Issue 3 done-when: a new user registers and logs in over REST, opens STOMP.js with
    the returned token, logs out over REST and is disconnected."""
    status, envelope = node.rest("POST", "/api/user/register",
                                 {"username": "newcomer", "password": "s3cret-pass",
                                  "nickname": "New Comer"})
    assert (status, envelope["code"]) == (200, 200), envelope
    user_id = envelope["data"]["id"]
    status, envelope = node.rest("POST", "/api/user/login",
                                 {"username": "newcomer", "password": "s3cret-pass"})
    assert (status, envelope["code"]) == (200, 200), envelope
    login = envelope["data"]
    token = login["token"]
    assert login["user"]["id"] == user_id and login["expiresAt"] > 0
    status, envelope = node.rest("GET", "/api/user/info", token=token)
    assert envelope["data"]["nickname"] == "New Comer", envelope

    friend = Person(node, "friendly")
    with running(js_dir, scenario(node, token, [
        {"op": "connect"},
        {"op": "subscribe", "destination": "/user/queue/notification", "id": "n"},
        {"op": "checkpoint", "name": "online"},
        {"op": "expect", "count": 1},
        {"op": "checkpoint", "name": "log-out-now"},
        {"op": "awaitClose", "timeoutMs": 5000},
    ])) as run:
        run.wait_event("checkpoint")
        # the session is this user's: a push to them reaches the browser
        friend.call("POST", "/api/friend/request", {"toUserId": user_id, "message": "hi"})
        run.go()
        run.wait_event("checkpoint")
        status, envelope = node.rest("POST", "/api/user/logout", token=token)
        assert (status, envelope["code"]) == (200, 200), envelope
        run.go()
        result = run.finish()
    assert result["ok"], result
    [pushed] = result["received"]
    assert json.loads(pushed["body"])["type"] == "FRIEND_REQUEST"
    assert pushed["headers"]["destination"] == f"/queue/notification/{user_id}"
    [error] = result["stompErrors"]  # ERROR says why, then the socket closes
    assert "revoked" in error["message"], result
    assert result["closes"] == 1, result

    # the revoked token opens nothing, over STOMP or REST ...
    again = run_scenario(js_dir, scenario(node, token, [{"op": "connect"}]))
    assert not again["ok"] and again["connects"] == 0, again
    status, envelope = node.rest("GET", "/api/user/info", token=token)
    assert (status, envelope["code"]) == (401, 1003), envelope
    # ... and logging in again gives a token that does
    status, envelope = node.rest("POST", "/api/user/login",
                                 {"username": "newcomer", "password": "s3cret-pass"})
    fresh = run_scenario(js_dir, scenario(node, envelope["data"]["token"], [
        {"op": "connect"}, {"op": "assertConnected"}, {"op": "disconnect"}]))
    assert fresh["ok"], fresh


def test_stompjs_private_round_trip(js_dir: Path, node: FullNode, devices: Devices) -> None:
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    alice_dev = devices.device(alice)
    alice_dev.subscribe("/user/queue/chat", "q")
    reply = {"toUserId": alice.id, "type": "text", "content": "hi from the browser",
             "clientMsgId": "web-1"}
    with running(js_dir, scenario(node, bob.token, [
        {"op": "connect"},
        {"op": "subscribe", "destination": "/user/queue/chat", "id": "chat"},
        {"op": "subscribe", "destination": "/user/queue/errors", "id": "errors"},
        {"op": "checkpoint", "name": "ready"},
        {"op": "expect", "count": 1},
        {"op": "publish", "destination": PRIVATE, "body": json.dumps(reply),
         "headers": {"content-type": "application/json", "receipt": "web-send-1"}},
        {"op": "expect", "count": 2},  # the browser's own copy, on its own queue
        {"op": "sleep", "ms": 250},
    ])) as run:
        run.wait_event("checkpoint")
        sent = alice_dev.stored(PRIVATE, {"toUserId": bob.id, "type": "text",
                                          "content": "hello browser", "clientMsgId": "tcp-1"})
        run.go()
        result = run.finish()
    assert result["ok"], result
    assert result["stompErrors"] == [] and result["closes"] == 0
    assert result["version"] == "1.2" and result["subprotocol"] == "v12.stomp"
    first, own = on(result, "chat")
    assert on(result, "errors") == []
    h = first["headers"]
    assert stored_id(h) == sent["message-id"]
    assert h["seq"] == sent["message-id"] and h["x-conversation-seq"] == "1"
    assert h["conversation-id"] == sent["conversation-id"]
    assert h["content-type"].startswith("application/json")
    body = json.loads(first["body"])
    assert body == body | {"id": int(sent["message-id"]), "fromUserId": alice.id,
                           "toUserId": bob.id, "content": "hello browser", "chatType": "private",
                           "clientMsgId": "tcp-1", "seq": 1}
    own_body = json.loads(own["body"])
    assert own_body == own_body | {"fromUserId": bob.id, "toUserId": alice.id, "seq": 2,
                                   "content": "hi from the browser", "clientMsgId": "web-1"}
    # the browser's message was stored and reached the other side over TCP
    [at_alice] = alice_dev.settled("q", 2, "alice's own copy and bob's reply")[1:]
    assert json_of(at_alice) == own_body
    history = alice.history(sent["conversation-id"])
    assert [m["content"] for m in history] == ["hello browser", "hi from the browser"]


def test_stompjs_refusals_keep_the_connection(
    js_dir: Path, node: FullNode, devices: Devices
) -> None:
    alice, bob, carol, dave = (Person(node, n) for n in ("alice", "bob", "carol", "dave"))
    alice.befriend(bob)
    alice.befriend(carol)
    carol.befriend(dave)
    bob.call("POST", f"/api/friend/blacklist/{alice.id}")
    gid = carol.group_with("closed", dave)
    carol_dev = devices.device(carol)
    carol_dev.subscribe("/user/queue/chat", "q")

    def publish(destination: str, receipt: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"op": "publish", "destination": destination, "body": json.dumps(body),
                "headers": {"content-type": "application/json", "receipt": receipt}}

    result = run_scenario(js_dir, scenario(node, alice.token, [
        {"op": "connect"},
        {"op": "subscribe", "destination": "/user/queue/errors", "id": "errors"},
        {"op": "subscribe", "destination": "/user/queue/chat", "id": "chat"},
        publish(PRIVATE, "r-blocked", {"toUserId": bob.id, "type": "text", "content": "x"}),
        {"op": "expect", "count": 1},
        publish("/app/chat/group", "r-outsider", {"groupId": gid, "type": "text",
                                                  "content": "x"}),
        {"op": "expect", "count": 2},
        {"op": "assertConnected"},
        publish(PRIVATE, "r-fine", {"toUserId": carol.id, "type": "text", "content": "fine"}),
        {"op": "expect", "count": 3},
        {"op": "assertConnected"},
    ]))
    assert result["ok"], result
    assert result["stompErrors"] == [] and result["closes"] == 0
    refusals = on(result, "errors")
    assert [(m["headers"]["code"], m["headers"]["receipt-id"]) for m in refusals] == [
        ("2005", "r-blocked"), ("4002", "r-outsider")]
    assert [json.loads(m["body"])["code"] for m in refusals] == [2005, 4002]
    assert [json.loads(m["body"])["receipt"] for m in refusals] == ["r-blocked", "r-outsider"]
    assert contents(on(result, "chat")) == ["fine"]
    [delivered] = carol_dev.settled("q", 1, "the allowed message")
    assert json_of(delivered)["content"] == "fine"


def test_stompjs_resume_on_group_topic_and_private_queue(
    js_dir: Path, node: FullNode, devices: Devices
) -> None:
    alice, bob = Person(node, "alice"), Person(node, "bob")
    alice.befriend(bob)
    gid = alice.group_with("resume", bob)
    topic = f"/topic/chat/{gid}"
    alice_dev = devices.device(alice)
    alice_dev.stored(topic, {"type": "text", "content": "g0"})
    alice_dev.stored(PRIVATE, {"toUserId": bob.id, "type": "text", "content": "p0"})

    # the browser's first visit: it sees one message of each and goes away
    first = run_scenario(js_dir, scenario(node, bob.token, [
        {"op": "connect"},
        {"op": "subscribe", "destination": topic, "id": "g", "headers": {"x-since-seq": "0"}},
        {"op": "subscribe", "destination": "/user/queue/chat", "id": "q",
         "headers": {"x-since-seq": "0"}},
        {"op": "expect", "count": 2},
        {"op": "disconnect"},
    ]))
    assert first["ok"], first
    [seen_g], [seen_q] = on(first, "g"), on(first, "q")

    missed = 5
    missed_g = [alice_dev.stored(topic, {"type": "text", "content": f"g{n}"})
                for n in range(1, missed + 1)]
    missed_q = [alice_dev.stored(PRIVATE, {"toUserId": bob.id, "type": "text",
                                           "content": f"p{n}"}) for n in range(1, missed + 1)]
    with running(js_dir, scenario(node, bob.token, [
        {"op": "connect"},
        {"op": "subscribe", "destination": topic, "id": "g",
         "headers": {"x-since-seq": seen_g["headers"]["seq"]}},
        {"op": "subscribe", "destination": "/user/queue/chat", "id": "q",
         "headers": {"x-since-seq": seen_q["headers"]["seq"]}},
        {"op": "expect", "count": 2 * missed},
        {"op": "checkpoint", "name": "replayed"},
        {"op": "expect", "count": 2 * missed + 2},
        {"op": "sleep", "ms": 300},  # a duplicate would land here
    ])) as run:
        run.wait_event("checkpoint")
        live_g = alice_dev.stored(topic, {"type": "text", "content": "live-g"})
        live_q = alice_dev.stored(PRIVATE, {"toUserId": bob.id, "type": "text",
                                            "content": "live-p"})
        run.go()
        result = run.finish()
    assert result["ok"], result
    group, private = on(result, "g"), on(result, "q")
    assert len(result["received"]) == 2 * missed + 2
    assert contents(group) == [f"g{n}" for n in range(1, missed + 1)] + ["live-g"]
    assert [int(m["headers"]["seq"]) for m in group] == list(range(2, missed + 3))
    assert [stored_id(m["headers"]) for m in group] == [
        r["message-id"] for r in (*missed_g, live_g)]
    assert contents(private) == [f"p{n}" for n in range(1, missed + 1)] + ["live-p"]
    assert [stored_id(m["headers"]) for m in private] == [
        r["message-id"] for r in (*missed_q, live_q)]
