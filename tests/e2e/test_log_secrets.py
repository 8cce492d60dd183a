"""A real `stompim serve` process, JSON logs at DEBUG, driven through the account and chat
flows; then its whole log is read back.

Every line must be one JSON object; the REST lines carry request ids (and the caller's
user id once authenticated), the STOMP lines the session id and the user id; and no
password, token, SMS code, message body or the JWT secret used during the run appears
anywhere in the output, the failure paths included (wrong password, revoked token on
the WebSocket handshake, malformed JSON carrying a password).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import websocket
from interop._fullnode import FullNode

from ._actors import PASSWORD, Devices, Person

pytestmark = pytest.mark.slow

JWT_SECRET = "log-secrets-test-" + secrets.token_hex(16)
START_LINE = re.compile(
    r"serving REST http://127\.0\.0\.1:(\d+)/api, STOMP ws://127\.0\.0\.1:(\d+)/ws, "
    r"STOMP tcp (\d+)"
)


class ServedNode(FullNode):
    """A node in its own `stompim serve` process (stderr to a file); `rest()` and
    `ports` as FullNode's, so the e2e actors drive it unchanged."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.log_path = workdir / "node.log"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._ports: Any = None

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stompim", "serve"],
                cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=log,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            match = START_LINE.search(self.log_path.read_text())
            if match:
                http, ws, tcp = (int(port) for port in match.groups())
                self._ports = SimpleNamespace(http=http, ws=ws, tcp=tcp)
                return
            assert self.proc.poll() is None, self.log_path.read_text()
            time.sleep(0.1)
        raise AssertionError(f"no start-up line: {self.log_path.read_text()[-2000:]}")

    @property
    def ports(self) -> Any:
        return self._ports

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def served(tmp_path: Path, node_backend: dict[str, dict[str, str]]) -> Iterator[ServedNode]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOMPIM_")}
    env.update(
        STOMPIM_SERVER_HTTP_PORT="0", STOMPIM_SERVER_WS_PORT="0", STOMPIM_SERVER_TCP_PORT="0",
        STOMPIM_LOG_FORMAT="json", STOMPIM_LOG_LEVEL="DEBUG",
        STOMPIM_AUTH_JWT_SECRET=JWT_SECRET, STOMPIM_AUTH_BCRYPT_ROUNDS="4",
        STOMPIM_SMS_OUTBOX_PATH=str(tmp_path / "outbox.txt"),
        STOMPIM_DATABASE_URL=node_backend["database"]["url"],
        STOMPIM_REDIS_URL=node_backend["redis"]["url"],
    )
    if node_backend["redis"]["url"]:
        env["STOMPIM_REDIS_CHANNEL_PREFIX"] = node_backend["redis"]["channel_prefix"]
    node = ServedNode(tmp_path, env)
    node.start()
    try:
        yield node
    finally:
        node.stop()


def post_raw(node: ServedNode, path: str, data: bytes) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{node.ports.http}{path}", data=data,
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        with err:
            return int(err.code)


def test_logs_of_a_whole_run_hold_ids_and_no_secrets(served: ServedNode) -> None:
    used: list[str] = [JWT_SECRET, PASSWORD]
    devices = Devices()
    try:
        alice, bob = Person(served, "alice"), Person(served, "bob")
        used += [alice.token, bob.token]
        alice.befriend(bob)

        # registration with an SMS code read from the development outbox
        phone = "13800000042"
        alice.call("POST", "/api/user/sms-code", {"phone": phone}, auth=False)
        code = (served.workdir / "outbox.txt").read_text().split()[-1]
        carol_password = "carol-" + secrets.token_hex(6) + "9"
        used += [code, carol_password]
        alice.call("POST", "/api/user/register", {"username": "carol", "password":
                   carol_password, "phone": phone, "smsCode": code}, auth=False)

        # chat over STOMP: stored, delivered, and a refused send (carol is no friend)
        body_text = "body-" + secrets.token_hex(8)
        used.append(body_text)
        sender, receiver = devices.device(alice), devices.device(bob)
        receiver.subscribe("/user/queue/chat", "chat")
        sender.stored("/app/chat/private", {"toUserId": bob.id, "type": "text",
                                            "content": body_text})
        receiver.wait_on("chat", 1, "the chat message")
        refused_text = "refused-" + secrets.token_hex(8)
        used.append(refused_text)
        sender.send_json("/app/chat/private", {"toUserId": 10**9, "type": "text",
                                               "content": refused_text})
        sender.stored("/app/chat/private", {"toUserId": bob.id, "type": "text",
                                            "content": body_text + "-2"})

        # failures: a wrong password, a password inside malformed JSON
        wrong = "wrong-" + secrets.token_hex(6) + "1"
        leaked = "leak-" + secrets.token_hex(6) + "2"
        used += [wrong, leaked]
        alice.call("POST", "/api/user/login", {"username": "alice", "password": wrong},
                   auth=False, expect=1002)
        malformed = b'{"username": "eve", "password": "' + leaked.encode() + b'"'
        assert post_raw(served, "/api/user/register", malformed) == 400

        # a password change (old and new), a logout, then the revoked token on a handshake
        new_password = "new-" + secrets.token_hex(6) + "3"
        used.append(new_password)
        bob.call("PUT", "/api/user/password", {"oldPassword": PASSWORD,
                                               "newPassword": new_password})
        alice.call("POST", "/api/user/logout")
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{served.ports.ws}/ws?token={alice.token}", timeout=10,
            subprotocols=["v12.stomp"],
        )
        ws.send("CONNECT\naccept-version:1.2\nhost:x\n\n\x00")
        assert ws.recv().startswith("ERROR")
        ws.close()
    finally:
        devices.close_all()
        served.stop()

    raw = served.log_path.read_text()
    lines = [json.loads(line) for line in raw.splitlines()]
    found = [secret for secret in used if secret in raw]
    assert found == [], f"secrets in the log: {found}"

    access = [line for line in lines if line["logger"] == "stompim.http.access"]
    assert len(access) >= 12
    assert all(re.fullmatch(r"[0-9a-f]{32}", line["request_id"]) for line in access)
    assert {line["user_id"] for line in access if "user_id" in line} >= {alice.id, bob.id}
    stomp_lines = [line for line in lines if "session_id" in line]
    assert any(line.get("user_id") == alice.id and "not delivered" in line["message"]
               for line in stomp_lines), stomp_lines
    sms = [line for line in lines if line["logger"] == "stompim.im.sms"]
    assert sms and sms[0]["message"].startswith("SMS code for *******0042 written to ")
