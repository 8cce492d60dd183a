"""The browser front end's account flow against a whole stompim node.

Register and log in over REST, connect STOMP.js (Node, over WebSocket) with
`Authorization: Bearer <token>` as the Spring front end does, then log out over
REST: that token's STOMP session must end (ERROR and/or socket close), the token
must no longer open a session, and a session of another token of the same user
(stomp.py over TCP, token as passcode) must stay up.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._fullnode import FullNode
from ._loop import LoopThread
from ._node import NodeRun, run_scenario
from ._stomppy import Recorder

pytestmark = pytest.mark.node

PASSWORD = "interop-passw0rd"


@pytest.fixture
def full_node(
    loop_thread: LoopThread, tmp_path: Path, node_backend: dict[str, dict[str, str]]
) -> Iterator[FullNode]:
    """On both deployments: SQLite with no Redis, and MariaDB + Redis."""
    node = FullNode(loop_thread, tmp_path / "interop.db", node_backend)
    node.start()
    try:
        yield node
    finally:
        node.stop()


def login(node: FullNode, username: str) -> dict[str, Any]:
    status, envelope = node.rest(
        "POST", "/api/user/login", {"username": username, "password": PASSWORD}
    )
    assert status == 200 and envelope["code"] == 200, envelope
    data: dict[str, Any] = envelope["data"]
    assert data["token"] and data["user"]["username"] == username
    return data


def test_logout_ends_the_stompjs_session_of_that_token(js_dir: Path, full_node: FullNode) -> None:
    import stomp

    status, envelope = full_node.rest(
        "POST", "/api/user/register", {"username": "webuser", "password": PASSWORD}
    )
    assert status == 200 and envelope["code"] == 200, envelope
    browser_login = login(full_node, "webuser")
    other_login = login(full_node, "webuser")  # a second device
    token = browser_login["token"]
    user_id = browser_login["user"]["id"]

    # The second device: stomp.py over TCP, JWT as passcode.
    other = stomp.Connection12([("127.0.0.1", full_node.ports.tcp)], reconnect_attempts_max=1)
    other_rec = Recorder()
    other.set_listener("rec", other_rec)
    other.connect("webuser", other_login["token"], wait=False)
    try:
        other_rec.wait(
            lambda: other_rec.connected is not None or bool(other_rec.errors), "CONNECTED"
        )
        assert not other_rec.errors, other_rec.errors

        run = NodeRun(
            js_dir,
            {
                "url": full_node.ws_url,
                "connectHeaders": {"Authorization": f"Bearer {token}"},
                "timeoutMs": 20000,
                "steps": [
                    {"op": "connect"},
                    {"op": "subscribe", "destination": f"/queue/notification/{user_id}", "id": "n"},
                    {"op": "subscribe", "destination": "/topic/interop.web", "id": "t"},
                    {"op": "publish", "destination": "/topic/interop.web", "body": "online"},
                    {"op": "expect", "count": 1},
                    {"op": "checkpoint", "name": "log-out-now"},
                    {"op": "awaitClose", "timeoutMs": 5000},
                ],
            },
        )
        try:
            run.start()
            run.wait_event("checkpoint")
            status, envelope = full_node.rest("POST", "/api/user/logout", token=token)
            assert status == 200 and envelope["code"] == 200, envelope
            run.go()
            result = run.finish()
        finally:
            run.close()
        assert result["ok"], result
        assert [m["body"] for m in result["received"]] == ["online"]
        # ERROR first (it says why), then the socket closes (DESIGN: STOMP contract).
        [error] = result["stompErrors"]
        assert "revoked" in error["message"], result
        assert result["closes"] == 1, result

        # The revoked token opens nothing any more ...
        again = run_scenario(
            js_dir,
            {
                "url": full_node.ws_url,
                "connectHeaders": {"Authorization": f"Bearer {token}"},
                "steps": [{"op": "connect"}],
            },
        )
        assert not again["ok"] and again["connects"] == 0, again
        # ... and REST refuses it too (1003 token expired or revoked).
        status, envelope = full_node.rest("GET", "/api/user/info", token=token)
        assert status == 401 and envelope["code"] == 1003, envelope

        # The other device's session (another token) is untouched.
        assert other.is_connected()
        assert other_rec.disconnects == 0
        other.subscribe("/topic/interop.web", id="o", receipt="o-sub")
        other_rec.wait_receipt("o-sub")
        other.send("/topic/interop.web", "still here", receipt="o-send")
        other_rec.wait(lambda: other_rec.bodies() == ["still here"], "own message back")
    finally:
        if other.is_connected():
            other.disconnect()
            other_rec.wait(lambda: other_rec.disconnects > 0, "disconnect", 2.0)
        other.transport.disconnect_socket()
