"""People and their devices, as the end-to-end tests drive them.

A `Person` is a registered, logged-in account on a `FullNode`; every REST call is
made with its token, exactly as a front end makes it, and the `Result` envelope's
code is checked on the spot. A `Device` is one stomp.py connection (STOMP 1.2
over TCP) authenticated with `Authorization: Bearer <token>`; it keeps every
frame it received (MESSAGE headers and bodies, RECEIPT headers, ERRORs) and lets
the test wait for them with a deadline. Nothing here waits without a bound.

Call order: `Person(node, name)` (registers and logs in), `people.device(person)`
for each connection (connected on return), then the `Devices` owner closes every
connection at teardown.
"""

from __future__ import annotations

import json
import time
from typing import Any

import stomp
from interop._fullnode import FullNode
from interop._stomppy import Received, Recorder

__all__ = ["PASSWORD", "Device", "Devices", "Person", "json_of", "stored_id"]

PASSWORD = "e2e-passw0rd"
HOST = "127.0.0.1"


def json_of(message: Received) -> Any:
    return json.loads(message.body)


def stored_id(headers: dict[str, str]) -> str:
    """The stored message id a chat MESSAGE names: `message-id` since the broker keeps a
    server publisher's id, `x-message-id` before that (both accepted for now)."""
    return headers["message-id"] if "message-id" in headers else headers["x-message-id"]


class Person:
    """An account made over REST (register, then login) and its authenticated calls."""

    def __init__(self, node: FullNode, name: str, nickname: str | None = None) -> None:
        self.node = node
        self.name = name
        body: dict[str, Any] = {"username": name, "password": PASSWORD}
        if nickname is not None:
            body["nickname"] = nickname
        created = self.call("POST", "/api/user/register", body, auth=False)
        assert created["username"] == name, created
        self.id = int(created["id"])
        self.token = self.login()["token"]

    def login(self) -> dict[str, Any]:
        """A fresh login (a new token, as a second device gets); returns the data."""
        data: dict[str, Any] = self.call(
            "POST", "/api/user/login", {"username": self.name, "password": PASSWORD}, auth=False
        )
        assert int(data["user"]["id"]) == self.id and data["token"], data
        return data

    def call(
        self, method: str, path: str, body: Any = None, *, auth: bool = True,
        expect: int = 200, token: str | None = None,
    ) -> Any:
        """`data` of the envelope; fails unless its `code` is `expect`."""
        status, envelope = self.node.rest(
            method, path, body, (token or self.token) if auth else None
        )
        assert envelope["code"] == expect, (method, path, status, envelope)
        if expect != 200:
            assert status in (400, 401, 403, 404, 409, 429), (method, path, status, envelope)
        return envelope["data"]

    def befriend(self, other: Person) -> None:
        request = self.call("POST", "/api/friend/request", {"toUserId": other.id, "message": "hi"})
        other.call("POST", f"/api/friend/request/{request['id']}/accept")

    def group_with(self, name: str, *members: Person) -> int:
        """A group owned by self with `members` (friends of self: they join at once)."""
        group = self.call(
            "POST", "/api/group", {"name": name, "memberIds": [m.id for m in members]}
        )
        assert sorted(group["memberIds"]) == sorted([self.id, *(m.id for m in members)]), group
        return int(group["id"])

    def history(self, conversation_id: int | str, **query: int) -> list[dict[str, Any]]:
        params = "".join(f"&{k}={v}" for k, v in query.items())
        page: list[dict[str, Any]] = self.call(
            "GET", f"/api/message/history?conversationId={conversation_id}{params}"
        )
        return page


class FrameLog(Recorder):
    """A Recorder that also keeps each RECEIPT's headers (stomp.py hands listeners the frame)."""

    def __init__(self) -> None:
        super().__init__()
        self.receipt_headers: dict[str, dict[str, str]] = {}

    def on_receipt(self, frame: Any) -> None:
        self.receipt_headers[frame.headers["receipt-id"]] = dict(frame.headers)
        super().on_receipt(frame)


class Device:
    """One STOMP 1.2 connection over TCP of `person`, logged in with a bearer token."""

    def __init__(self, person: Person, token: str | None = None, label: str = "") -> None:
        self.person = person
        self.label = label or person.name
        self.log = FrameLog()
        self.conn = stomp.Connection12([(HOST, person.node.ports.tcp)], reconnect_attempts_max=1)
        self.conn.set_listener("log", self.log)
        self._receipts = 0
        self.conn.connect(
            headers={"Authorization": f"Bearer {token or person.token}"}, wait=False
        )
        self.log.wait(lambda: self.log.connected is not None or bool(self.log.errors),
                      f"CONNECTED for {self.label}")
        assert not self.log.errors, self.log.errors

    def next_receipt(self) -> str:
        self._receipts += 1
        return f"{self.label}-{self._receipts}"

    def subscribe(self, destination: str, sub_id: str, **headers: str) -> None:
        """SUBSCRIBE and wait for its RECEIPT (a replay, if asked for, is sent before it)."""
        receipt = self.next_receipt()
        self.conn.subscribe(destination, id=sub_id, receipt=receipt, headers=headers)
        self.log.wait_receipt(receipt)

    def send_json(self, destination: str, body: dict[str, Any], **headers: str) -> str:
        """SEND a JSON body with a receipt; returns the receipt id without waiting."""
        receipt = self.next_receipt()
        self.conn.send(destination, json.dumps(body), content_type="application/json",
                       receipt=receipt, headers=headers)
        return receipt

    def receipt(self, receipt: str, timeout: float = 5.0) -> dict[str, str]:
        """Headers of the RECEIPT `receipt` (waits for it)."""
        self.log.wait_receipt(receipt, timeout)
        return self.log.receipt_headers[receipt]

    def stored(self, destination: str, body: dict[str, Any], **headers: str) -> dict[str, str]:
        """SEND and wait for the RECEIPT: the message is stored (a RECEIPT with a
        `message-id`; a refusal has `x-error-code` instead); returns its headers."""
        got = self.receipt(self.send_json(destination, body, **headers))
        assert "message-id" in got and "x-error-code" not in got, got
        return got

    def on(self, sub_id: str) -> list[Received]:
        with self.log._cond:
            return [m for m in self.log.messages if m.headers.get("subscription") == sub_id]

    def wait_on(self, sub_id: str, count: int, what: str, timeout: float = 5.0) -> list[Received]:
        """The first `count` (at least) MESSAGEs of subscription `sub_id`."""
        self.log.wait(
            lambda: sum(m.headers.get("subscription") == sub_id for m in self.log.messages)
            >= count, f"{what} ({count} on {sub_id!r} at {self.label})", timeout,
        )
        return self.on(sub_id)

    def settled(self, sub_id: str, count: int, what: str, quiet: float = 0.25) -> list[Received]:
        """Exactly `count` MESSAGEs on `sub_id`: waits for them, then for `quiet` seconds
        more, so a duplicate or an extra delivery right behind them is caught."""
        self.wait_on(sub_id, count, what)
        time.sleep(quiet)
        got = self.on(sub_id)
        assert len(got) == count, (what, [m.body for m in got])
        return got

    def events(self, sub_id: str, event: str) -> list[Any]:
        """Bodies of the `x-event: <event>` MESSAGEs (read, recall) on `sub_id`."""
        return [json_of(m) for m in self.on(sub_id) if m.headers.get("x-event") == event]

    def chat(self, sub_id: str) -> list[Received]:
        """The chat messages (no `x-event`) on `sub_id`."""
        return [m for m in self.on(sub_id) if "x-event" not in m.headers]

    @property
    def connected(self) -> bool:
        return bool(self.conn.is_connected())

    def close(self) -> None:
        """DISCONNECT (bounded) if still up, then drop the socket."""
        try:
            if self.conn.is_connected():
                self.conn.disconnect()
                self.log.wait(lambda: self.log.disconnects > 0, "disconnect", 2.0)
        except AssertionError:
            pass
        finally:
            self.conn.transport.disconnect_socket()


class Devices:
    """Opens devices for a test and closes every one of them at teardown."""

    def __init__(self) -> None:
        self._open: list[Device] = []

    def device(self, person: Person, token: str | None = None, label: str = "") -> Device:
        dev = Device(person, token, label)
        self._open.append(dev)
        return dev

    def close_all(self) -> None:
        for dev in self._open:
            dev.close()
        self._open.clear()
