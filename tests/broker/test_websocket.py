"""WebSocket transport specifics, on port 8081's fast path and on the REST port (aiohttp)."""

from __future__ import annotations

import pytest
from stompclient import StompClient
from websockets.exceptions import InvalidStatus

from stompim.frames import Command, Frame, encode

from .conftest import BrokerFactory, Harness


@pytest.fixture(params=["ws", "http-ws"])
def ws(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_other_path_is_404(hub: Harness, ws: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        await StompClient.websocket(hub.port(ws), path="/other")
    assert info.value.response.status_code == 404


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(["v10.stomp", "v12.stomp"], "v12.stomp"), (["v11.stomp"], "v11.stomp"),
     ([], None), (["mqtt"], None)],
)
async def test_subprotocols(
    hub: Harness, ws: str, offered: list[str], chosen: str | None
) -> None:
    client = await StompClient.websocket(hub.port(ws), subprotocols=offered)
    hub.clients.append(client)
    assert client.ws.subprotocol == chosen
    assert (await client.connect()).command.value == "CONNECTED"


async def test_binary_body_goes_out_binary(hub: Harness, ws: str) -> None:
    sub = await hub.connected(ws, "bob")
    await sub.subscribe("/topic/b")
    sender = await hub.connected(ws, "alice")
    await sender.send_raw(
        encode(Frame.build(Command.SEND, {"destination": "/topic/b"}, b"\xff\xfe\x00bin")),
        binary=True,
    )
    await sender.send("/topic/b", "héllo".encode())
    first, second = await sub.frame(), await sub.frame()
    assert first.body == b"\xff\xfe\x00bin" and second.body == "héllo".encode()
    # CONNECTED, RECEIPT were text; then binary, then text
    assert sub.ws_kinds[-2:] == ["binary", "text"]


async def test_frames_split_and_merged(hub: Harness, ws: str) -> None:
    sub = await hub.connected(ws, "bob")
    await sub.subscribe("/topic/s")
    sender = await hub.connected(ws, "alice")
    one = encode(Frame.build(Command.SEND, {"destination": "/topic/s"}, b"one"))
    two = encode(Frame.build(Command.SEND, {"destination": "/topic/s"}, b"two"))
    three = encode(Frame.build(Command.SEND, {"destination": "/topic/s", "receipt": "r"},
                               b"three"))
    blob = one + b"\n" + two + three
    # split at awkward points: inside the command, a header and the body
    cuts = [3, 20, len(one) + 5, len(blob) - 4]
    pieces = [blob[a:b] for a, b in zip([0, *cuts], [*cuts, len(blob)], strict=False)]
    for piece in pieces:
        await sender.send_raw(piece, binary=True)
    await sender.receipt("r")
    assert [(await sub.frame()).body for _ in range(3)] == [b"one", b"two", b"three"]


async def test_fragmented_ws_message(hub: Harness, ws: str) -> None:
    sub = await hub.connected(ws, "bob")
    await sub.subscribe("/topic/f")
    sender = await hub.connected(ws, "alice")
    data = encode(Frame.build(Command.SEND, {"destination": "/topic/f"}, b"fragmented"))
    await sender.ws.send([data[:7], data[7:15], data[15:]])
    assert (await sub.frame()).body == b"fragmented"


async def test_error_then_normal_closure(hub: Harness, ws: str) -> None:
    """A refused CONNECT: the ERROR frame, then a Close frame 1000 from the server."""
    client = await hub.open(ws)
    reply = await client.connect("alice", "wrong")
    assert reply.command.value == "ERROR"
    await client.ws.wait_closed()
    assert client.ws.close_code == 1000
    assert client.ws.protocol.close_rcvd is not None   # the server's own Close frame


async def test_a_message_over_the_limit_closes_1009(make_broker: BrokerFactory, ws: str) -> None:
    """A WebSocket message larger than twice max_frame_size plus 64 KiB is refused by
    the WebSocket layer itself (1009, message too big), on both listeners."""
    hub = await make_broker(max_frame_size=1024)
    client = await hub.connected(ws, "alice")
    await client.send_raw(b"x" * (2 * 1024 + 64 * 1024 + 1), binary=True)
    await client.ws.wait_closed()
    assert client.ws.close_code == 1009


async def test_the_client_address_reaches_the_broker(hub: Harness, ws: str) -> None:
    client = await hub.connected(ws, "alice")
    await client.send("/topic/x", b"", receipt="r")
    assert [c.peer for c in hub.broker.connections] == ["127.0.0.1"]


@pytest.mark.parametrize("listener", ["ws", "ws-public"])
async def test_a_session_keeps_no_handshake_headers(hub: Harness, listener: str) -> None:
    """Once the handshake is done the node needs none of its headers (token, client
    address and subprotocol were taken while it ran): websockets' copies are dropped,
    about 4 KB an idle session would otherwise hold for its life."""
    client = await hub.connected(listener, "alice")
    assert client.ws.subprotocol == "v12.stomp"
    await client.send("/topic/h", b"", receipt="r")   # waits for the RECEIPT
    [connection] = hub.broker.connections
    server_side = connection.link.conn   # type: ignore[attr-defined]
    assert server_side.request is not None and server_side.request.path == "/ws"
    assert list(server_side.request.headers.raw_items()) == []
    assert server_side.response is None
    assert connection.peer == "127.0.0.1"
