"""WebSocket handshakes and text frames from hostile peers (issue 10, point 9), on the
fast path and on websockets' public API:

* Origin allowlist: a handshake from a browser page of another site is refused 403;
  an allowed origin, a page of the node's own host (any port: its web client), and a
  handshake without Origin (no browser) pass;
* a text message that is not valid UTF-8 closes the connection with 1007 (RFC 6455
  section 8.1), whole or fragmented (a character split across fragments is fine).
"""

from __future__ import annotations

import pytest
from stompclient import StompClient
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from stompim.frames import Command

from .conftest import Harness

ALLOWED = ["http://good.example:3000"]
PATHS = [True, False]   # fast path, public path


async def _listener(hub: Harness, fast: bool) -> int:
    return await hub.broker.start_websocket("127.0.0.1", 0, "/ws", fast_path=fast,
                                            origins=ALLOWED)


@pytest.mark.parametrize("fast", PATHS)
@pytest.mark.parametrize("origin", ["http://evil.example", "http://good.example:3001",
                                    "null", "http://localhost.evil.example"])
async def test_cross_origin_handshake_is_refused(hub: Harness, fast: bool, origin: str) -> None:
    port = await _listener(hub, fast)
    with pytest.raises(InvalidStatus) as info:
        await StompClient.websocket(port, origin=origin)
    assert info.value.response.status_code == 403
    assert hub.broker.preauth.connections == 0


@pytest.mark.parametrize("fast", PATHS)
@pytest.mark.parametrize("origin", [None, "http://good.example:3000", "http://127.0.0.1:8080"])
async def test_allowed_handshakes_connect(hub: Harness, fast: bool, origin: str | None) -> None:
    port = await _listener(hub, fast)
    kwargs = {} if origin is None else {"origin": origin}
    client = await StompClient.websocket(port, **kwargs)
    hub.clients.append(client)
    assert (await client.connect()).command is Command.CONNECTED


async def _close_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        for _ in range(10):
            await ws.recv()
    return ws.close_code


@pytest.mark.parametrize("fast", PATHS)
async def test_invalid_utf8_text_frame_closes_1007(hub: Harness, fast: bool) -> None:
    port = hub.ws_port if fast else hub.ws_public_port
    client = await hub.connected("ws" if fast else "ws-public")
    await client.ws.send(b"SEND\ndestination:/topic/t\n\n\xc3\x28\x00", text=True)
    assert await _close_code(client.ws) == 1007
    # before CONNECT too, and the node keeps serving others
    early = await StompClient.websocket(port)
    hub.clients.append(early)
    await early.ws.send(b"CONNECT\nlogin:\xff\n\n\x00", text=True)
    assert await _close_code(early.ws) == 1007
    other = await hub.connected("ws" if fast else "ws-public", "bob")
    await other.subscribe("/topic/t")


@pytest.mark.parametrize("fast", PATHS)
async def test_fragmented_text_is_judged_as_a_whole(hub: Harness, fast: bool) -> None:
    transport = "ws" if fast else "ws-public"
    sub = await hub.connected(transport, "bob")
    await sub.subscribe("/topic/t")
    sender = await hub.connected(transport)
    frame = "SEND\ndestination:/topic/t\n\nhé€llo\x00".encode()
    cut = frame.index("é".encode()) + 1                # inside the two bytes of é
    await sender.ws.send([frame[:cut], frame[cut:]], text=True)
    assert (await sub.frame()).body == "hé€llo".encode()
    bad = b"SEND\ndestination:/topic/t\n\nh\xe2\x82"      # € cut short, then ASCII
    await sender.ws.send([bad, b"x\x00"], text=True)
    assert await _close_code(sender.ws) == 1007


@pytest.mark.parametrize("fast", PATHS)
async def test_valid_text_and_any_binary_pass(hub: Harness, fast: bool) -> None:
    transport = "ws" if fast else "ws-public"
    sub = await hub.connected(transport, "bob")
    await sub.subscribe("/topic/t")
    sender = await hub.connected(transport)
    await sender.ws.send("SEND\ndestination:/topic/t\n\nünïcode\x00".encode(), text=True)
    await sender.ws.send(b"SEND\ndestination:/topic/t\ncontent-length:2\n\n\xff\xfe\x00",
                         text=False)
    assert (await sub.frame()).body == "ünïcode".encode()
    assert (await sub.frame()).body == b"\xff\xfe"
