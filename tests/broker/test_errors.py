"""Every ERROR class, over both transports: ERROR (+receipt-id) then close, and
other connections keep working."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from stompclient import StompClient

from .conftest import BrokerFactory, Harness, wait_for


async def _bystander_ok(hub: Harness, transport: str, bystander: StompClient) -> None:
    sender = await hub.connected(transport, "carol")
    await sender.send("/topic/still", b"alive")
    got = await bystander.frame()
    assert got.body == b"alive"


async def _expect_error(client: StompClient, receipt: str | None) -> str:
    frames = await client.closed()
    assert frames, "no ERROR before close"
    error = frames[-1]
    assert error.command.value == "ERROR", frames
    assert error.get("message")
    assert error.body
    assert error.get("receipt-id") == receipt
    return error.get("message") or ""


async def _setup(hub: Harness, transport: str) -> tuple[StompClient, StompClient]:
    bystander = await hub.connected(transport, "bob")
    await bystander.subscribe("/topic/still")
    victim = await hub.connected(transport, "alice")
    return victim, bystander


async def test_malformed_frame(hub: Harness, transport: str) -> None:
    victim, bystander = await _setup(hub, transport)
    await victim.send_raw(b"SEND\ndestination:/topic/a\nno-colon-here\n\n\x00")
    await _expect_error(victim, None)
    await _bystander_ok(hub, transport, bystander)


async def test_frame_too_large(make_broker: BrokerFactory, transport: str) -> None:
    hub = await make_broker(max_frame_size=2048)
    victim, bystander = await _setup(hub, transport)
    await victim.send_raw(b"SEND\ndestination:/topic/a\n\n" + b"x" * 5000 + b"\x00")
    message = await _expect_error(victim, None)
    assert "limit" in message
    await _bystander_ok(hub, transport, bystander)


async def test_too_many_headers(make_broker: BrokerFactory, transport: str) -> None:
    hub = await make_broker(max_headers=5)
    victim, bystander = await _setup(hub, transport)
    headers = "".join(f"h{i}:v\n" for i in range(10))
    await victim.send_raw(f"SEND\ndestination:/topic/a\n{headers}\n\x00".encode())
    await _expect_error(victim, None)
    await _bystander_ok(hub, transport, bystander)


async def test_unknown_command(hub: Harness, transport: str) -> None:
    victim, bystander = await _setup(hub, transport)
    await victim.send_raw(b"FROB\nreceipt:r\n\n\x00")
    await _expect_error(victim, None)
    await _bystander_ok(hub, transport, bystander)


async def test_server_command_from_client(hub: Harness, transport: str) -> None:
    victim, bystander = await _setup(hub, transport)
    await victim.send_frame("MESSAGE", {"destination": "/topic/a", "receipt": "m1"})
    await _expect_error(victim, "m1")
    await _bystander_ok(hub, transport, bystander)


async def test_missing_destination(hub: Harness, transport: str) -> None:
    victim, bystander = await _setup(hub, transport)
    await victim.send_frame("SEND", {"receipt": "r7"}, b"x")
    message = await _expect_error(victim, "r7")
    assert "destination" in message
    await _bystander_ok(hub, transport, bystander)


async def test_missing_subscribe_id_in_12(hub: Harness, transport: str) -> None:
    victim, bystander = await _setup(hub, transport)
    await victim.send_frame("SUBSCRIBE", {"destination": "/topic/a", "receipt": "s1"})
    message = await _expect_error(victim, "s1")
    assert "id" in message
    await _bystander_ok(hub, transport, bystander)


async def test_missing_transaction_on_begin(hub: Harness, transport: str) -> None:
    victim, bystander = await _setup(hub, transport)
    await victim.send_frame("BEGIN", {"receipt": "b1"})
    message = await _expect_error(victim, "b1")
    assert "transaction" in message
    await _bystander_ok(hub, transport, bystander)


async def test_bad_ack_id(hub: Harness, transport: str) -> None:
    victim, bystander = await _setup(hub, transport)
    await victim.send_frame("ACK", {"id": "nope", "receipt": "a1"})
    message = await _expect_error(victim, "a1")
    assert "ack" in message
    await _bystander_ok(hub, transport, bystander)


async def test_unknown_destination(hub: Harness, transport: str) -> None:
    victim, bystander = await _setup(hub, transport)
    await victim.send_frame("SEND", {"destination": "/elsewhere/x", "receipt": "d1"})
    message = await _expect_error(victim, "d1")
    assert "unknown destination" in message
    await _bystander_ok(hub, transport, bystander)


async def test_max_subscriptions(make_broker: BrokerFactory, transport: str) -> None:
    hub = await make_broker(max_subscriptions=3)
    victim, bystander = await _setup(hub, transport)
    for i in range(3):
        await victim.subscribe(f"/topic/t{i}", sub_id=str(i))
    await victim.send_frame("SUBSCRIBE", {"destination": "/topic/t9", "id": "9",
                                          "receipt": "too"})
    message = await _expect_error(victim, "too")
    assert "subscriptions" in message
    await _bystander_ok(hub, transport, bystander)


async def test_invalid_ack_mode(hub: Harness) -> None:
    victim = await hub.connected()
    await victim.send_frame("SUBSCRIBE", {"destination": "/topic/a", "id": "1",
                                          "ack": "sometimes"})
    await _expect_error(victim, None)


async def test_the_error_reaches_a_client_that_keeps_sending(
        make_broker: BrokerFactory) -> None:
    """A client that reads slowly has MESSAGEs queued in the server's kernel when its
    protocol error closes the session, and keeps sending: the server lingers (FIN after
    its output, then drops what comes) instead of resetting, which would throw away
    what its kernel had not sent yet, the ERROR included."""
    hub = await make_broker(max_pending_bytes=16 * 1024 * 1024)
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", hub.tcp_port))
        await loop.sock_sendall(sock, b"CONNECT\nlogin:alice\npasscode:pa\n\n\x00"
                                      b"SUBSCRIBE\ndestination:/topic/big\nid:1\n\n\x00")
        assert (await loop.sock_recv(sock, 100)).startswith(b"CONNECTED")
        publisher = await hub.connected("tcp", "bob")
        for _ in range(100):      # far more than the reader's windows: queued server-side
            await publisher.send("/topic/big", b"m" * 8000)
        await publisher.send("/topic/big", b"last", receipt="sent")
        await loop.sock_sendall(sock, b"NONSENSE\n\n\x00")
        await wait_for(lambda: hub.broker.user_session_count(1) == 0)
        with contextlib.suppress(ConnectionError):
            for _ in range(50):    # still talking after the close
                await loop.sock_sendall(sock, b"SEND\ndestination:/topic/x\n\nmore\x00")
        received = bytearray()
        with contextlib.suppress(ConnectionError):
            async with asyncio.timeout(10):
                while chunk := await loop.sock_recv(sock, 65536):
                    received += chunk
        assert b"\x00ERROR\n" in received, (len(received), bytes(received[-200:]))
    finally:
        sock.close()
