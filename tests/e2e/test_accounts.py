"""Accounts seen from a real STOMP client (issue 3), stomp.py over TCP on both deployments:
the login token opens STOMP in each accepted form, presence follows the connections,
and logout ends the sessions of that token only. (The STOMP.js account flow is in
test_stompjs.py.)
"""

from __future__ import annotations

import time

import stomp
from interop._fullnode import FullNode

from ._actors import PASSWORD, Devices, FrameLog, Person

HOST = "127.0.0.1"


def _online(asker: Person, *people: Person) -> dict[str, bool]:
    ids = ",".join(str(p.id) for p in people)
    status: dict[str, bool] = asker.call("GET", f"/api/user/online?ids={ids}")
    return status


def _wait_online(asker: Person, person: Person, want: bool) -> None:
    deadline = time.monotonic() + 5
    while _online(asker, person)[str(person.id)] is not want:
        assert time.monotonic() < deadline, f"{person.name} online should become {want}"
        time.sleep(0.05)


def _connect(node: FullNode, login: str | None, passcode: str | None,
             headers: dict[str, str] | None = None) -> tuple[stomp.Connection12, FrameLog]:
    conn = stomp.Connection12([(HOST, node.ports.tcp)], reconnect_attempts_max=1)
    log = FrameLog()
    conn.set_listener("log", log)
    conn.connect(login, passcode, wait=False, headers=headers or {})
    log.wait(lambda: log.connected is not None or bool(log.errors), "CONNECTED or ERROR")
    return conn, log


def test_token_forms_presence_and_logout_of_one_token(node: FullNode, devices: Devices) -> None:
    watcher, bob = Person(node, "watcher"), Person(node, "bob")
    assert _online(watcher, bob) == {str(bob.id): False}

    # the front end's form: Authorization: Bearer <token>
    phone = devices.device(bob, label="bob-phone")
    _wait_online(watcher, bob, True)
    # other accepted forms, each with a token of its own (a login per device)
    second, third = bob.login()["token"], bob.login()["token"]
    forms = [
        (None, None, {"token": second}),  # `token` header
        ("bob", third, None),  # the token as passcode
        ("bob", PASSWORD, None),  # login + password
    ]
    opened = []
    try:
        for login, passcode, headers in forms:
            conn, log = _connect(node, login, passcode, headers)
            opened.append((conn, log))
            assert log.connected is not None and not log.errors, (login, headers, log.errors)
        # a wrong password is an ERROR, then the socket closes
        conn, log = _connect(node, "bob", "not-the-password")
        opened.append((conn, log))
        assert log.connected is None and log.errors
        log.wait(lambda: log.disconnects > 0, "close after the refused CONNECT")

        # logout revokes the phone's token: that session ends, the others stay
        bob.call("POST", "/api/user/logout")
        phone.log.wait(lambda: phone.log.disconnects > 0, "the phone's session to end")
        assert any("revoked" in e.headers.get("message", "") for e in phone.log.errors)
        time.sleep(0.2)
        for conn, log in opened[:3]:
            assert conn.is_connected() and log.disconnects == 0
        assert _online(watcher, bob) == {str(bob.id): True}  # still on three connections
        bob.call("GET", "/api/user/info", expect=1003)  # the revoked token, over REST
        bob.call("GET", "/api/user/info", token=second)  # another device's token still works
    finally:
        for conn, log in opened:
            if conn.is_connected():
                conn.disconnect()
                log.wait(lambda log=log: log.disconnects > 0, "disconnect", 2.0)
            conn.transport.disconnect_socket()
    _wait_online(watcher, bob, False)  # every connection gone: offline
