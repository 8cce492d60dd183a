"""STOMP on the REST port, as a Spring front end reaches it: `ws://host:8080/ws` and
`new SockJS("http://host:8080/ws")` (issue 12), against a whole node.

Real clients: @stomp/stompjs 7 under Node over `ws` and over sockjs-client 1.6 with
each transport forced (`transports: [...]`), stomp.py over WebSocket to the REST
port.  Two registered users (strangers may chat: im.allow_stranger_chat) exchange a
chat message through `/app/chat/private` and `/user/queue/chat`.  The refusals: a
foreign Origin (403), an unknown path (404), a bad token (STOMP ERROR).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from stomp.adapter.ws import WSStompConnection

from ._fullnode import FullNode
from ._loop import LoopThread
from ._node import run_scenario
from ._stomppy import Recorder

pytestmark = pytest.mark.node

PASSWORD = "interop-passw0rd"
SOCKJS_TRANSPORTS = ["websocket", "xhr-streaming", "xhr-polling", "eventsource"]


@pytest.fixture(scope="module")
def module_loop() -> Iterator[LoopThread]:
    loop = LoopThread()
    loop.start()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def node(module_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullNode]:
    full = FullNode(
        module_loop, tmp_path_factory.mktemp("restport") / "node.db",
        im={"allow_stranger_chat": True},
        http={"stomp_paths": ["/ws", "/im"], "sockjs_heartbeat_ms": 1000,
              "sockjs_disconnect_delay_ms": 1500},
        stomp={"application_destination_prefixes": ["/app", "/msg"],
               "user_destination_prefix": "/me", "max_pending_bytes": 256 * 1024},
    )
    full.start()
    try:
        yield full
    finally:
        full.stop()


@pytest.fixture(scope="module")
def users(node: FullNode) -> dict[str, dict[str, Any]]:
    out = {}
    for name in ("ada", "bert"):
        status, envelope = node.rest(
            "POST", "/api/user/register", {"username": name, "password": PASSWORD})
        assert status == 200, envelope
        status, envelope = node.rest(
            "POST", "/api/user/login", {"username": name, "password": PASSWORD})
        assert status == 200, envelope
        out[name] = envelope["data"]
    return out


def http_url(node: FullNode, path: str) -> str:
    return f"http://127.0.0.1:{node.ports.http}{path}"


def stomppy_on_rest_port(node: FullNode, token: str, path: str = "/ws") -> tuple[Any, Recorder]:
    """stomp.py over WebSocket to the REST port, the JWT as passcode."""
    conn = WSStompConnection([("127.0.0.1", node.ports.http)], ws_path=path,
                             reconnect_attempts_max=1)
    rec = Recorder()
    conn.set_listener("rec", rec)
    conn.connect("ignored", token, wait=False)
    rec.wait(lambda: rec.connected is not None or bool(rec.errors), "CONNECTED")
    assert not rec.errors, rec.errors
    return conn, rec


def chat_scenario(url: str, token: str, to_user: int, text: str, *, app: str = "/app",
                  user: str = "/user", **options: Any) -> dict[str, Any]:
    return {
        "url": url,
        "connectHeaders": {"Authorization": f"Bearer {token}"},
        "heartbeatIncoming": 500,
        "heartbeatOutgoing": 500,
        "timeoutMs": 25000,
        "steps": [
            {"op": "connect", "timeoutMs": 10000},
            {"op": "subscribe", "destination": f"{user}/queue/chat", "id": "chat"},
            {"op": "subscribe", "destination": f"{user}/queue/notification", "id": "notes"},
            {"op": "publish", "destination": f"{app}/chat/private",
             "body": json.dumps({"toUserId": to_user, "type": "text", "content": text}),
             "headers": {"receipt": "send-1"}},
            {"op": "expect", "count": 1, "timeoutMs": 10000},   # the sender's own copy
            {"op": "sleep", "ms": 1500},     # past a SockJS heartbeat (1 s): still up
            {"op": "assertConnected"},
            {"op": "disconnect"},
        ],
        **options,
    }


def exchange(js_dir: Path, node: FullNode, users: dict[str, dict[str, Any]], url: str,
             text: str, **options: Any) -> dict[str, Any]:
    """ada (STOMP.js) sends `text` to bert (stomp.py on the REST port); both see it."""
    conn, rec = stomppy_on_rest_port(node, users["bert"]["token"])
    try:
        conn.subscribe("/user/queue/chat", id="b-chat", receipt="b-sub")
        rec.wait_receipt("b-sub")
        result = run_scenario(js_dir, chat_scenario(
            url, users["ada"]["token"], users["bert"]["user"]["id"], text, **options))
        assert result["ok"], result
        assert json.loads(result["received"][0]["body"])["content"] == text
        got = rec.wait_messages(1)
        assert json.loads(got[0].body)["content"] == text
        return result
    finally:
        conn.disconnect()


def test_stompjs_over_websocket_on_the_rest_port(
    js_dir: Path, node: FullNode, users: dict[str, dict[str, Any]]
) -> None:
    url = f"ws://127.0.0.1:{node.ports.http}/ws"
    result = exchange(js_dir, node, users, url, "hello over ws://:http/ws")
    assert result["subprotocol"] == "v12.stomp"


def test_a_second_endpoint_path_serves_too(
    js_dir: Path, node: FullNode, users: dict[str, dict[str, Any]]
) -> None:
    exchange(js_dir, node, users, f"ws://127.0.0.1:{node.ports.http}/im", "hello over /im")


@pytest.mark.parametrize("transport", SOCKJS_TRANSPORTS)
def test_sockjs_client_over_each_transport(
    js_dir: Path, node: FullNode, users: dict[str, dict[str, Any]], transport: str
) -> None:
    result = exchange(js_dir, node, users, http_url(node, "/ws"), f"hello over {transport}",
                      sockjs={"transports": [transport]})
    assert result["transport"] == transport


def test_configured_application_and_user_prefixes(
    js_dir: Path, node: FullNode, users: dict[str, dict[str, Any]]
) -> None:
    """stomp.application_destination_prefixes ["/app", "/msg"], user prefix "/me"."""
    exchange(js_dir, node, users, http_url(node, "/ws"), "hello with Spring prefixes",
             sockjs={"transports": ["websocket"]}, app="/msg", user="/me")


def test_sockjs_token_in_the_url_authenticates(
    js_dir: Path, node: FullNode, users: dict[str, dict[str, Any]]
) -> None:
    token = users["ada"]["token"]
    scenario = chat_scenario(http_url(node, f"/ws?token={token}"), token,
                             users["bert"]["user"]["id"], "token in the URL",
                             sockjs={"transports": ["xhr-polling"]})
    scenario["connectHeaders"] = {}
    result = run_scenario(js_dir, scenario)
    assert result["ok"], result


@pytest.mark.parametrize("transport", ["ws", "sockjs"])
def test_a_bad_token_is_an_error_frame(js_dir: Path, node: FullNode, transport: str) -> None:
    url = (f"ws://127.0.0.1:{node.ports.http}/ws" if transport == "ws"
           else http_url(node, "/ws"))
    options = {"sockjs": {"transports": ["xhr-streaming"]}} if transport == "sockjs" else {}
    result = run_scenario(js_dir, {
        "url": url, "connectHeaders": {"Authorization": "Bearer not-a-token"},
        "timeoutMs": 15000, "steps": [{"op": "connect"}], **options,
    })
    assert not result["ok"]
    assert result["stompErrors"], result
    assert "CONNECT refused" in result["error"]


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET",
        body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method, data=body)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


def test_info_and_greeting(node: FullNode) -> None:
    status, headers, body = get(http_url(node, "/ws/info"))
    assert status == 200
    info = json.loads(body)
    assert info["websocket"] is True and info["cookie_needed"] is False
    assert "no-cache" in headers["Cache-Control"]
    status, _, body = get(http_url(node, "/ws"))
    assert (status, body) == (200, b"Welcome to SockJS!\n")
    status, _, body = get(http_url(node, "/im/"))
    assert (status, body) == (200, b"Welcome to SockJS!\n")


def test_same_origin_and_listed_origins_pass_others_are_403(node: FullNode) -> None:
    own = f"http://127.0.0.1:{node.ports.http}"
    assert get(http_url(node, "/ws/info"), {"Origin": own})[0] == 200
    assert get(http_url(node, "/ws/info"), {"Origin": "http://localhost:5173"})[0] == 200
    status, _, _ = get(http_url(node, "/ws/info"), {"Origin": "http://evil.example"})
    assert status == 403
    status, _, _ = get(http_url(node, "/ws/srv/sess1/xhr"), {"Origin": "http://evil.example"},
                       method="POST")
    assert status == 403


def test_a_websocket_from_a_foreign_origin_is_refused(node: FullNode) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{node.ports.http}/ws"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin="http://evil.example", open_timeout=5)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    with connect(url, origin=f"http://127.0.0.1:{node.ports.http}",  # type: ignore[arg-type]
                 subprotocols=["v12.stomp"], open_timeout=5) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "v12.stomp"


def test_unknown_paths_are_404(node: FullNode) -> None:
    for path in ("/wsx", "/ws/srv/sess/nope", "/ws/srv/se.ss/xhr", "/ws/iframe.html",
                 "/stomp"):
        method = "POST" if path.endswith("xhr") else "GET"
        assert get(http_url(node, path), method=method)[0] == 404, path
    status, _, _ = get(http_url(node, "/ws/srv/unknown/xhr_send"), method="POST", body=b'["x"]')
    assert status == 404


def test_xhr_send_refuses_broken_payloads(node: FullNode) -> None:
    status, _, body = get(http_url(node, "/ws/srv/broken1/xhr"), method="POST")
    assert (status, body) == (200, b"o\n")
    status, _, body = get(http_url(node, "/ws/srv/broken1/xhr_send"), method="POST", body=b"")
    assert (status, body) == (500, b"Payload expected.")
    status, _, body = get(http_url(node, "/ws/srv/broken1/xhr_send"), method="POST",
                          body=b"[1")
    assert (status, body) == (500, b"Broken JSON encoding.")


class RawSockJs:
    """SockJS by hand over xhr-polling (urllib), to stop polling at will."""

    def __init__(self, node: FullNode, session: str) -> None:
        self.base = http_url(node, f"/ws/000/{session}")

    def poll(self) -> bytes:
        status, _, body = get(self.base + "/xhr", method="POST")
        assert status == 200
        return body

    def send(self, *frames: str) -> None:
        status, _, _ = get(self.base + "/xhr_send", method="POST",
                           body=json.dumps(list(frames)).encode())
        assert status == 204

    def poll_until(self, needle: bytes, polls: int = 10) -> bytes:
        seen = b""
        for _ in range(polls):
            seen += self.poll()
            if needle in seen:
                return seen
        raise AssertionError(f"{needle!r} not in {seen[:300]!r}")


def sockjs_sessions(node: FullNode) -> set[str]:
    """Ids of the node's SockJS sessions (read from the test thread)."""
    return set(node._node.stomp_endpoints.sessions.links)


def stomp_alive(node: FullNode, session: str) -> Callable[[], bool]:
    """Whether the STOMP connection of SockJS session `session` is still open."""
    endpoint = node._node.stomp_endpoints.sessions.links[session].endpoint
    return lambda: endpoint in node._node.broker.connections


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def connect_raw(node: FullNode, session: str, token: str) -> RawSockJs:
    client = RawSockJs(node, session)
    assert client.poll() == b"o\n"
    client.send(f"CONNECT\naccept-version:1.2\nhost:x\nAuthorization:Bearer {token}\n"
                "heart-beat:0,0\n\n\x00",
                "SUBSCRIBE\nid:f\ndestination:/topic/flood\nreceipt:sub\n\n\x00")
    assert b"receipt-id:sub" in client.poll_until(b"RECEIPT")
    return client


def test_a_client_that_stops_polling_is_dropped_past_the_pending_limit(
    node: FullNode, users: dict[str, dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """A SockJS client subscribes, then never polls while 1 MiB is published to it:
    its STOMP session is dropped as a slow consumer once its queue passes
    stomp.max_pending_bytes (256 KiB here), and its next poll gets the close frame,
    not the backlog."""
    caplog.set_level(logging.INFO, logger="stompim.broker")
    client = connect_raw(node, "flooded", users["ada"]["token"])
    alive = stomp_alive(node, "flooded")
    assert alive()
    conn, rec = stomppy_on_rest_port(node, users["bert"]["token"])
    try:
        body = "x" * 8192
        for n in range(128):      # 1 MiB, four times the session's pending limit
            conn.send("/topic/flood", body, receipt=f"f{n}")
        rec.wait_receipt("f127", timeout=20)
    finally:
        conn.disconnect()
    wait_until(lambda: not alive(), "the slow SockJS session to be dropped")
    assert any("slow consumer" in r.getMessage() for r in caplog.records), caplog.text
    answer = client.poll()
    assert answer.startswith(b"c[3000") and len(answer) < 100, answer[:200]


def test_a_client_that_stops_polling_expires_after_the_disconnect_delay(
    node: FullNode, users: dict[str, dict[str, Any]]
) -> None:
    """http.sockjs_disconnect_delay_ms (1.5 s here): no request for that long ends
    the SockJS session and its STOMP session; a later poll opens a new session."""
    connect_raw(node, "quitter", users["ada"]["token"])
    alive = stomp_alive(node, "quitter")
    assert "quitter" in sockjs_sessions(node) and alive()
    started = time.monotonic()
    wait_until(lambda: "quitter" not in sockjs_sessions(node), "the session to expire")
    assert time.monotonic() - started >= 1.0
    wait_until(lambda: not alive(), "its STOMP session to end")


def test_an_idle_poll_gets_a_heartbeat_and_a_second_poll_is_refused(
    node: FullNode, users: dict[str, dict[str, Any]]
) -> None:
    """http.sockjs_heartbeat_ms (1 s here): a poll with nothing to answer is answered
    "h" after about that long; a second poll while one waits gets the close frame 2010
    (one receiver per session, as the SockJS protocol says)."""
    client = connect_raw(node, "beating", users["ada"]["token"])
    answers: list[bytes] = []
    polling = threading.Thread(target=lambda: answers.append(client.poll()))
    started = time.monotonic()
    polling.start()
    wait_until(lambda: node._node.stomp_endpoints.sessions.links["beating"].sockjs.attached,
               "the first poll to wait")
    assert client.poll() == b'c[2010,"Another connection still open"]\n'
    polling.join(10)
    assert answers == [b"h\n"]
    assert 0.5 <= time.monotonic() - started < 5


def test_stopping_the_node_ends_rest_port_sessions_gracefully_and_soon(
    module_loop: LoopThread, tmp_path: Path
) -> None:
    """A node that stops drains its REST-port sessions like the others: stomp.py on
    ws://:http/ws gets ERROR "server shutting down", a SockJS poll waiting for frames
    is answered with them and the close frame, and the node is down within seconds
    (no request of the REST port left hanging for aiohttp's shutdown timeout)."""
    other = FullNode(module_loop, tmp_path / "stopping.db",
                     http={"sockjs_heartbeat_ms": 60000})
    other.start()
    try:
        for name in ("ada", "bert"):
            other.rest("POST", "/api/user/register", {"username": name, "password": PASSWORD})
        tokens = [other.rest("POST", "/api/user/login",
                             {"username": name, "password": PASSWORD})[1]["data"]["token"]
                  for name in ("ada", "bert")]
        conn, rec = stomppy_on_rest_port(other, tokens[0])
        poller = connect_raw(other, "waiting", tokens[1])
        answers: list[bytes] = []
        polling = threading.Thread(target=lambda: answers.append(poller.poll()))
        polling.start()
        wait_until(lambda: other._node.stomp_endpoints.sessions.links["waiting"].sockjs.attached,
                   "the poll to wait")
        started = time.monotonic()
        other.stop()
        stopped_in = time.monotonic() - started
        polling.join(10)
        rec.wait(lambda: bool(rec.errors), "ERROR")
        assert "shutting down" in rec.errors[0].headers.get("message", ""), rec.errors
        assert answers and b"ERROR" in answers[0] and answers[0].endswith(b'c[3000,"Go away!"]\n')
        assert stopped_in < 8, stopped_in
        conn.transport.disconnect_socket()
    finally:
        other.stop()
