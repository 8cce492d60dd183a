"""@stomp/stompjs v7 under Node 20 (with the `ws` package) against stompim over WebSocket.

Each test hands js/client.mjs a scenario (see its header for the step list) and
checks the JSON result it prints.  A stomp.py client over TCP is used on the
other side where a second, independent client makes the check stronger.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from ._broker import USERS, BrokerRunner
from ._node import NodeRun, run_scenario
from ._stomppy import ClientFactory

pytestmark = pytest.mark.node


@pytest.fixture(autouse=True, params=["ws", "ws-public"])
def ws_transport(request: pytest.FixtureRequest, broker: BrokerRunner) -> str:
    """Every scenario runs on the WebSocket fast path and on the public API path."""
    broker.ws_transport = str(request.param)
    return broker.ws_transport


def login(user: str) -> dict[str, str]:
    return {"login": user, "passcode": USERS[user][1]}


def scenario(broker: BrokerRunner, steps: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return {
        "url": broker.ws_url,
        "connectHeaders": login("alice"),
        "timeoutMs": 20000,
        "steps": steps,
        **options,
    }


def assert_ok(result: dict[str, Any]) -> None:
    assert result["ok"], f"STOMP.js scenario failed: {result}"


def test_connect_subscribe_publish_receive(
    js_dir: Path, broker: BrokerRunner, clients: ClientFactory
) -> None:
    bob = clients.open("tcp", user="bob")  # an independent second client
    bob.subscribe("/topic/js.chat", "bob-1")
    result = run_scenario(
        js_dir,
        scenario(
            broker,
            [
                {"op": "connect"},
                {"op": "subscribe", "destination": "/topic/js.chat", "id": "js-1"},
                {
                    "op": "publish",
                    "destination": "/topic/js.chat",
                    "body": "hi from stomp.js ✓",
                    "headers": {"x-app": "interop", "content-type": "text/plain"},
                },
                {"op": "expect", "count": 1},
                {"op": "disconnect"},
            ],
        ),
    )
    assert_ok(result)
    assert result["connects"] == 1
    assert result["version"] == "1.2"
    assert result["subprotocol"] == "v12.stomp"
    [got] = result["received"]
    assert got["body"] == "hi from stomp.js ✓"
    assert got["headers"]["destination"] == "/topic/js.chat"
    assert got["headers"]["subscription"] == "js-1"
    assert got["headers"]["x-app"] == "interop"
    assert got["headers"]["message-id"]

    [seen] = bob.rec.wait_messages(1)
    assert seen.body == "hi from stomp.js ✓"
    assert seen.headers["x-app"] == "interop"


def test_receives_what_another_client_sends(
    js_dir: Path, broker: BrokerRunner, clients: ClientFactory
) -> None:
    run = NodeRun(
        js_dir,
        scenario(
            broker,
            [
                {"op": "connect"},
                {"op": "subscribe", "destination": "/queue/js.inbox", "id": "js-q"},
                {"op": "checkpoint", "name": "subscribed"},
                {"op": "expect", "count": 2},
            ],
        ),
    )
    try:
        run.start()
        run.wait_event("checkpoint")
        bob = clients.open("tcp", user="bob")
        bob.send("/queue/js.inbox", "first", **{"x-n": "1"})
        bob.send("/queue/js.inbox", "second", **{"x-n": "2"})
        run.go()
        result = run.finish()
    finally:
        run.close()
    assert_ok(result)
    assert [(m["body"], m["headers"]["x-n"]) for m in result["received"]] == [
        ("first", "1"),
        ("second", "2"),
    ]


def test_bad_passcode_is_a_stomp_error(js_dir: Path, broker: BrokerRunner) -> None:
    result = run_scenario(
        js_dir,
        scenario(
            broker, [{"op": "connect"}], connectHeaders={"login": "alice", "passcode": "nope"}
        ),
    )
    assert not result["ok"]
    assert "CONNECT refused" in result["error"]
    assert result["connects"] == 0
    assert result["stompErrors"] and result["stompErrors"][0]["message"]


@pytest.mark.slow
def test_heartbeats_hold_an_idle_connection(js_dir: Path, broker: BrokerRunner) -> None:
    result = run_scenario(
        js_dir,
        scenario(
            broker,
            [
                {"op": "connect"},
                # Idle longer than the server's limit for a silent client (1000 ms
                # negotiated + 2000 ms grace): only the client's PINGs keep it open.
                {"op": "sleep", "ms": 3500},
                {"op": "assertConnected"},
                {"op": "subscribe", "destination": "/topic/js.hb", "id": "hb"},
                {"op": "publish", "destination": "/topic/js.hb", "body": "alive"},
                {"op": "expect", "count": 1},
            ],
            heartbeatIncoming=1000,
            heartbeatOutgoing=1000,
        ),
    )
    assert_ok(result)
    # Negotiated: the server beats every max(500, 1000) = 1000 ms.
    assert result["heartbeatsIn"] >= 2, result
    assert result["heartbeatsLost"] == 0
    assert result["closes"] == 0
    assert result["connects"] == 1


@pytest.mark.slow
def test_reconnects_after_a_server_restart(js_dir: Path, broker: BrokerRunner) -> None:
    run = NodeRun(
        js_dir,
        scenario(
            broker,
            [
                {"op": "connect"},
                {"op": "subscribe", "destination": "/topic/js.restart", "id": "r"},
                {"op": "publish", "destination": "/topic/js.restart", "body": "before"},
                {"op": "expect", "count": 1},
                {"op": "checkpoint", "name": "restart-now"},
                {"op": "awaitConnects", "count": 2, "timeoutMs": 10000},
                {"op": "publish", "destination": "/topic/js.restart", "body": "after"},
                {"op": "expect", "count": 2},
            ],
            reconnectDelay=200,
        ),
    )
    try:
        run.start()
        run.wait_event("checkpoint")
        old_port = broker.port(broker.ws_transport)
        broker.restart()  # new Broker, same port
        assert broker.port(broker.ws_transport) == old_port
        run.go()
        result = run.finish()
    finally:
        run.close()
    assert_ok(result)
    assert result["connects"] == 2
    assert result["closes"] >= 1
    assert [m["body"] for m in result["received"]] == ["before", "after"]


def test_binary_body_round_trip(js_dir: Path, broker: BrokerRunner) -> None:
    small = b"\x00bin\x00ary\xff\xfe\x00"  # NULs and bytes that are not UTF-8
    large = os.urandom(64 * 1024) + b"\x00"
    result = run_scenario(
        js_dir,
        scenario(
            broker,
            [
                {"op": "connect"},
                {"op": "subscribe", "destination": "/topic/js.bin", "id": "bin"},
                {
                    "op": "publish",
                    "destination": "/topic/js.bin",
                    "binaryBase64": base64.b64encode(small).decode(),
                },
                {
                    "op": "publish",
                    "destination": "/topic/js.bin",
                    "binaryBase64": base64.b64encode(large).decode(),
                },
                {"op": "expect", "count": 2},
            ],
        ),
    )
    assert_ok(result)
    got = [base64.b64decode(m["binaryBase64"]) for m in result["received"]]
    assert got == [small, large]
    assert [int(m["headers"]["content-length"]) for m in result["received"]] == [
        len(small),
        len(large),
    ]
    assert result["received"][0]["headers"]["content-type"] == "application/octet-stream"
