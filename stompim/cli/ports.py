"""The port checks of `stompim doctor`: free to bind, or who holds the port.

A port is tried the way the node binds it (same address, SO_REUSEADDR, as asyncio's
`create_server`). When it is taken, the holder is asked, within the timeout, in the
listener's own protocol: the REST port for ``GET /health`` (a stompim node answers a
Result envelope), the WebSocket port for a handshake offering ``v12.stomp``, the TCP
port for a STOMP CONNECT (a STOMP server answers CONNECTED or ERROR). A stompim node
holding the port is a warning (a node already runs with this configuration); any other
program is a failure (`stompim serve` would not start).
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import socket
from collections.abc import Callable

from websockets.sync.client import connect as ws_connect

from stompim.cli.check import FAIL, OK, WARN, Check
from stompim.config import Config

__all__ = ["check_ports"]

_ANY_HOST = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}
_STOMP_SUBPROTOCOLS = ("v12.stomp", "v11.stomp", "v10.stomp")
_CONNECT_FRAME = b"CONNECT\naccept-version:1.0,1.1,1.2\nhost:stompim-doctor\n\n\x00"

Probe = Callable[[str, int, float], str | None]
"""(host, port, timeout) -> what answered ("a stompim node ...") or None."""


def check_ports(config: Config, timeout: float) -> list[Check]:
    server = config.server
    host = server.host

    def probe_ws(probe_host: str, port: int, wait: float) -> str | None:
        return _probe_websocket(probe_host, port, server.ws_path, wait)

    checks = [
        check_port("REST", host, server.http_port, timeout, _probe_http, "--http-port"),
        check_port("WebSocket", host, server.ws_port, timeout, probe_ws, "--ws-port"),
    ]
    if server.tcp_port < 0:
        checks.append(Check(OK, "port", "STOMP TCP listener disabled (server.tcp_port = -1)"))
    else:
        checks.append(
            check_port("STOMP TCP", host, server.tcp_port, timeout, _probe_stomp_tcp,
                       "--tcp-port")
        )
    return checks


def check_port(
    name: str, host: str, port: int, timeout: float, probe: Probe, flag: str
) -> Check:
    where = f"{name} {host}:{port}"
    if port == 0:
        return Check(OK, "port", f"{name} port 0: the system picks a free one at start")
    error = bind_error(host, port)
    if error is None:
        return Check(OK, "port", f"{where} is free")
    if error.errno == errno.EACCES:
        return Check(FAIL, "port", f"{where}: not allowed to bind (ports below 1024 need "
                     "privileges)", f"use a port above 1024 ({flag})")
    if error.errno != errno.EADDRINUSE:
        return Check(FAIL, "port", f"{where}: cannot bind: {error}",
                     "set server.host to an address of this machine")
    answer = probe(_ANY_HOST.get(host, host), port, timeout)
    if answer is not None:
        return Check(WARN, "port", f"{where} is served by {answer}",
                     "a node already runs with these ports; stop it before starting "
                     f"another, or give the new one other ports ({flag})")
    return Check(FAIL, "port", f"{where} is in use by another program (not a stompim node)",
                 f"stop it (`ss -ltnp 'sport = :{port}'` names it) or choose another port "
                 f"({flag})")


def bind_error(host: str, port: int) -> OSError | None:
    """None when every address `host` resolves to can be bound at `port`."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return OSError(errno.EADDRNOTAVAIL, f"cannot resolve {host!r}: {exc}")
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                return exc
    return None


def _probe_http(host: str, port: int, timeout: float) -> str | None:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/health", headers={"X-Request-Id": "stompim-doctor"})
        response = conn.getresponse()
        envelope = json.loads(response.read(64 * 1024))
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()
    if (
        isinstance(envelope, dict)
        and envelope.get("code") == 200
        and "timestamp" in envelope
        and isinstance(envelope.get("data"), dict)
    ):
        return "a stompim node (GET /health answered)"
    return None


def _probe_websocket(host: str, port: int, path: str, timeout: float) -> str | None:
    try:
        with ws_connect(
            f"ws://{host}:{port}{path}",
            subprotocols=[*_STOMP_SUBPROTOCOLS],  # type: ignore[list-item]
            open_timeout=timeout,
            close_timeout=timeout,
        ) as conn:
            chosen = conn.subprotocol
    except Exception:
        return None
    if chosen in _STOMP_SUBPROTOCOLS:
        return f"a STOMP WebSocket endpoint at {path} (a stompim node, {chosen})"
    return None


def _probe_stomp_tcp(host: str, port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_CONNECT_FRAME)
            reply = sock.recv(256)
            with contextlib.suppress(OSError):
                sock.sendall(b"DISCONNECT\n\n\x00")
    except OSError:
        return None
    if reply.startswith((b"CONNECTED", b"ERROR")):
        return "a STOMP server (a stompim node answers CONNECT like this)"
    return None
