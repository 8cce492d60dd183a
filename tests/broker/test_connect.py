"""CONNECT: version and heart-beat negotiation, authentication, timeouts, limits."""

from __future__ import annotations

import pytest
from stompclient import StompClient

from stompim.broker.connect import negotiate_heartbeat, negotiate_version
from stompim.broker.errors import FrameRefused

from .conftest import BrokerFactory, Harness, wait_for


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, "1.0"), ("1.0", "1.0"), ("1.1", "1.1"), ("1.0,1.1,1.2", "1.2"),
     ("1.2,1.1", "1.2"), ("1.1, 2.0", "1.1"), ("2.0", None), ("", None)],
)
def test_negotiate_version(header: str | None, expected: str | None) -> None:
    assert negotiate_version(header) == expected


def test_negotiate_heartbeat() -> None:
    # server can send every 1000, wants every 2000
    assert negotiate_heartbeat(None, 1000, 2000) == (0, 0)
    assert negotiate_heartbeat("0,0", 1000, 2000) == (0, 0)
    assert negotiate_heartbeat("500,300", 1000, 2000) == (1000, 2000)
    assert negotiate_heartbeat("5000,7000", 1000, 2000) == (7000, 5000)
    assert negotiate_heartbeat("5000,7000", 0, 0) == (0, 0)
    with pytest.raises(FrameRefused):
        negotiate_heartbeat("x,1", 1, 1)
    with pytest.raises(FrameRefused):
        negotiate_heartbeat("-1,1", 1, 1)


async def test_connected_headers(hub: Harness, transport: str) -> None:
    client = await hub.open(transport)
    reply = await client.connect("alice", "pa", version="1.1,1.2", heart_beat="0,0")
    assert reply.command.value == "CONNECTED"
    assert reply.get("version") == "1.2"
    assert reply.get("server") == hub.broker.config.server_name
    assert reply.get("user-name") == "alice"
    assert reply.get("session")
    assert reply.get("heart-beat") == "0,0"


async def test_absent_accept_version_is_10(hub: Harness) -> None:
    client = await hub.open()
    await client.send_frame("CONNECT", {"login": "alice", "passcode": "pa"})
    reply = await client.frame()
    assert reply.command.value == "CONNECTED" and reply.get("version") == "1.0"


async def test_stomp_command_accepted(hub: Harness) -> None:
    client = await hub.open()
    await client.send_frame("STOMP", {"accept-version": "1.1", "host": "any-host",
                                      "login": "bob", "passcode": "pb"})
    reply = await client.frame()
    assert reply.command.value == "CONNECTED" and reply.get("version") == "1.1"


async def test_no_common_version(hub: Harness, transport: str) -> None:
    client = await hub.open(transport)
    await client.send_frame("CONNECT", {"accept-version": "2.0,3.1", "login": "alice",
                                        "passcode": "pa"})
    frames = await client.closed()
    assert frames[0].command.value == "ERROR"
    assert frames[0].get("version") == "1.0,1.1,1.2"


async def test_auth_failure(hub: Harness, transport: str) -> None:
    client = await hub.open(transport)
    reply = await client.connect("alice", "wrong")
    assert reply.command.value == "ERROR"
    assert "passcode" in (reply.get("message") or "")
    await client.closed()


async def test_frame_before_connect(hub: Harness, transport: str) -> None:
    client = await hub.open(transport)
    await client.send_frame("SEND", {"destination": "/topic/a", "receipt": "r"}, b"x")
    frames = await client.closed()
    assert [f.command.value for f in frames] == ["ERROR"]
    assert frames[0].get("receipt-id") == "r"


async def test_connect_timeout(make_broker: BrokerFactory) -> None:
    hub = await make_broker(connect_timeout_ms=150)
    client = await hub.open()
    frames = await client.closed(timeout=2)
    assert frames and frames[0].command.value == "ERROR"
    await client.close()   # the server waits for the client's side of the close
    await wait_for(lambda: hub.broker.sessions_count == 0)


async def test_max_connections_per_user(make_broker: BrokerFactory) -> None:
    hub = await make_broker(max_connections_per_user=2)
    await hub.connected("tcp", "alice")
    await hub.connected("ws", "alice")
    third = await hub.open()
    reply = await third.connect("alice", "pa")
    assert reply.command.value == "ERROR" and "too many" in (reply.get("message") or "")
    await third.closed()
    await hub.connected("tcp", "bob")  # other users unaffected


async def test_handshake_token_query_and_header(hub: Harness) -> None:
    by_query = await StompClient.websocket(hub.ws_port, path="/ws?token=pb")
    hub.clients.append(by_query)
    reply = await by_query.connect("", "")
    assert reply.command.value == "CONNECTED" and reply.get("user-name") == "bob"
    by_header = await StompClient.websocket(
        hub.ws_port, additional_headers={"Authorization": "Bearer pc"})
    hub.clients.append(by_header)
    reply = await by_header.connect("", "")
    assert reply.command.value == "CONNECTED" and reply.get("user-name") == "carol"


async def test_parser_version_set_after_connect(hub: Harness) -> None:
    """1.2 unescapes `\\c` in SEND headers; 1.0 keeps backslashes literally."""
    sub = await hub.connected("tcp", "bob", version="1.2")
    await sub.subscribe("/topic/esc")
    v12 = await hub.connected("tcp", "alice", version="1.2")
    await v12.send_raw(b"SEND\ndestination:/topic/esc\nk:a\\cb\n\n\x00")
    got = await sub.frame()
    assert got.get("k") == "a:b"
    v10 = await hub.connected("tcp", "carol", version="1.0")
    await v10.send_raw(b"SEND\ndestination:/topic/esc\nk:a\\cb\n\n\x00")
    got = await sub.frame()
    assert got.get("k") == "a\\cb"


async def test_second_connect_is_error(hub: Harness) -> None:
    client = await hub.connected()
    await client.send_frame("CONNECT", {"accept-version": "1.2", "login": "alice",
                                        "passcode": "pa"})
    frames = await client.closed()
    assert frames[0].command.value == "ERROR"
