"""stomp.py clients (TCP and WebSocket, STOMP 1.1 and 1.2) for the interop tests.

stomp.py delivers everything on its own receiver thread through listener
callbacks.  `Recorder` keeps what arrived and lets the test thread wait, with a
deadline, for a condition on it; nothing ever waits without a bound (stomp.py's
own `connect(wait=True)` can wait forever, so it is not used).

Call order: `ClientFactory(broker)`, `open(...)` per client (connected and ready
unless `connect=False`), and `close_all()` at teardown (disconnects whatever is
still connected, so no stomp.py thread outlives its test).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import stomp
from stomp.adapter.ws import WSStompConnection, WSTransport
from stomp.connect import BaseConnection
from stomp.listener import ConnectionListener
from stomp.protocol import Protocol11

from ._broker import HOST, USERS, WS_PATH, BrokerRunner

__all__ = ["ClientFactory", "Received", "Recorder", "StompClient"]

WAIT = 5.0


@dataclass(frozen=True)
class Received:
    """One MESSAGE as stomp.py handed it over (body decoded as UTF-8 by stomp.py)."""

    headers: dict[str, str]
    body: str


class Recorder(ConnectionListener):
    """Thread-safe record of one connection's events, with bounded waits."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.connected: dict[str, str] | None = None
        self.messages: list[Received] = []
        self.receipts: list[str] = []
        self.errors: list[Received] = []
        self.heartbeats = 0
        self.heartbeat_timeouts = 0
        self.disconnects = 0

    def _update(self, change: Callable[[], None]) -> None:
        with self._cond:
            change()
            self._cond.notify_all()

    def on_connected(self, frame: Any) -> None:
        self._update(lambda: setattr(self, "connected", dict(frame.headers)))

    def on_message(self, frame: Any) -> None:
        self._update(lambda: self.messages.append(Received(dict(frame.headers), frame.body)))

    def on_receipt(self, frame: Any) -> None:
        self._update(lambda: self.receipts.append(frame.headers["receipt-id"]))

    def on_error(self, frame: Any) -> None:
        self._update(lambda: self.errors.append(Received(dict(frame.headers), frame.body)))

    def on_heartbeat(self) -> None:
        def bump() -> None:
            self.heartbeats += 1

        self._update(bump)

    def on_heartbeat_timeout(self) -> None:
        def bump() -> None:
            self.heartbeat_timeouts += 1

        self._update(bump)

    def on_disconnected(self) -> None:
        def bump() -> None:
            self.disconnects += 1

        self._update(bump)

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        """Block until `predicate()` (evaluated under the lock) holds; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
                self._cond.wait(left)

    def wait_messages(self, count: int, timeout: float = WAIT) -> list[Received]:
        self.wait(lambda: len(self.messages) >= count, f"{count} message(s)", timeout)
        with self._cond:
            return list(self.messages)

    def wait_receipt(self, receipt: str, timeout: float = WAIT) -> None:
        self.wait(lambda: receipt in self.receipts, f"RECEIPT {receipt}", timeout)

    def bodies(self) -> list[str]:
        with self._cond:
            return [m.body for m in self.messages]


class WSStompConnection11(BaseConnection, Protocol11):
    """STOMP 1.1 over stomp.py's WebSocket transport (stomp.py ships only 1.2 over WS).

    Same parts as stomp.py's own connection classes: its `WSTransport` under its
    `Protocol11`; `connect` starts the transport's receiver thread first.
    """

    def __init__(
        self,
        host_and_ports: list[tuple[str, int]],
        ws_path: str,
        heartbeats: tuple[int, int] = (0, 0),
    ) -> None:
        transport = WSTransport(host_and_ports, ws_path=ws_path, reconnect_attempts_max=1)
        BaseConnection.__init__(self, transport)
        Protocol11.__init__(self, transport, heartbeats)

    def connect(self, *args: Any, **kwargs: Any) -> None:
        self.transport.start()
        Protocol11.connect(self, *args, **kwargs)

    def disconnect(self, receipt: str | None = None, headers: Any = None, **kw: Any) -> None:
        Protocol11.disconnect(self, receipt, headers, **kw)
        if receipt is not None:
            self.transport.stop()


@dataclass
class StompClient:
    conn: Any
    rec: Recorder
    transport: str
    version: str
    _receipts: int = field(default=0)

    def receipt(self, prefix: str = "r") -> str:
        self._receipts += 1
        return f"{prefix}-{self._receipts}"

    def subscribe(self, destination: str, sub_id: str, ack: str = "auto", **headers: str) -> None:
        """SUBSCRIBE and wait for its RECEIPT, so later SENDs from anyone reach it."""
        receipt = self.receipt("sub")
        self.conn.subscribe(destination, id=sub_id, ack=ack, receipt=receipt, **headers)
        self.rec.wait_receipt(receipt)

    def send(self, destination: str, body: str, **headers: str) -> None:
        """SEND and wait for its RECEIPT (the broker has routed it)."""
        receipt = self.receipt("send")
        self.conn.send(destination, body, receipt=receipt, **headers)
        self.rec.wait_receipt(receipt)

    def ack(self, message: Received, **kw: Any) -> None:
        self._ack_or_nack(self.conn.ack, message, **kw)

    def nack(self, message: Received, **kw: Any) -> None:
        self._ack_or_nack(self.conn.nack, message, **kw)

    def _ack_or_nack(self, method: Any, message: Received, **kw: Any) -> None:
        h = message.headers
        if self.version == "1.2":
            method(h["ack"], **kw)  # STOMP 1.2: ACK id = MESSAGE ack header
        else:
            method(h["message-id"], h["subscription"], **kw)  # 1.1: message-id + subscription


class ClientFactory:
    def __init__(self, broker: BrokerRunner) -> None:
        self._broker = broker
        self._clients: list[StompClient] = []

    def open(
        self,
        transport: str = "tcp",
        version: str = "1.2",
        user: str = "alice",
        passcode: str | None = None,
        heartbeats: tuple[int, int] = (0, 0),
        connect: bool = True,
    ) -> StompClient:
        conn = self._build(transport, version, heartbeats)
        rec = Recorder()
        conn.set_listener("recorder", rec)
        client = StompClient(conn, rec, transport, version)
        self._clients.append(client)
        if connect:
            secret = USERS[user][1] if passcode is None else passcode
            conn.connect(user, secret, wait=False)
            rec.wait(lambda: rec.connected is not None or bool(rec.errors), "CONNECTED")
            if rec.errors:
                raise AssertionError(f"CONNECT refused: {rec.errors[0]}")
        return client

    def _build(self, transport: str, version: str, heartbeats: tuple[int, int]) -> Any:
        if transport == "tcp":
            hosts = [(HOST, self._broker.tcp_port)]
            cls = {"1.1": stomp.Connection11, "1.2": stomp.Connection12}[version]
            return cls(hosts, heartbeats=heartbeats, reconnect_attempts_max=1)
        hosts = [(HOST, self._broker.port(transport))]   # "ws" or "ws-public"
        if version == "1.2":
            return WSStompConnection(
                hosts, heartbeats=heartbeats, ws_path=WS_PATH, reconnect_attempts_max=1
            )
        return WSStompConnection11(hosts, ws_path=WS_PATH, heartbeats=heartbeats)

    def close_all(self) -> None:
        """DISCONNECT what is still connected, then drop every socket (bounded)."""
        for client in self._clients:
            conn, rec = client.conn, client.rec
            try:
                if conn.is_connected():
                    # No `receipt=` argument: stomp.py would then block, unbounded,
                    # in transport.stop().  It adds its own receipt and closes the
                    # socket when that arrives.
                    conn.disconnect()
                    rec.wait(lambda rec=rec: rec.disconnects > 0, "disconnect", 2.0)
            except AssertionError:
                pass
            finally:
                conn.transport.disconnect_socket()
        self._clients.clear()
