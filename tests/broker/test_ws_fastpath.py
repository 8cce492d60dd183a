"""The WebSocket fast path (FastConnection.data_received) on a raw socket:
masked frames cut at any byte, all three length encodings, and the hand-over to
websockets at the first frame it does not take (ping, fragment, too big, unmasked)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import logging
import os
import socket
import struct

import pytest
import websockets
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection
from websockets.frames import Opcode
from websockets.protocol import State as WsState
from websockets.server import ServerProtocol

from stompim.broker import ws_fastpath
from stompim.broker.ws_fastpath import (
    KNOWN_MAJOR_VERSION,
    FastConnection,
    apply_mask,
    cut_frames,
    fast_path_usable,
)
from stompim.frames import Command, Frame, FrameParser, encode

from .conftest import Harness, wait_for

MASK = b"\x37\xfa\x21\x3d"


def client_frame(payload: bytes, opcode: int = 0x1, fin: bool = True) -> bytes:
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return head + MASK + masked


def stomp(command: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    return encode(Frame.build(Command(command), headers, body))


class RawWs:
    """Handshake by hand, then read server frames (unmasked) and STOMP frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = FrameParser()
        self.frames: list[Frame] = []
        self.control: list[tuple[int, bytes]] = []

    @classmethod
    async def open(cls, port: int) -> RawWs:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        assert head.startswith(b"HTTP/1.1 101")
        return cls(reader, writer)

    async def send(self, data: bytes, step: int = 0) -> None:
        if not step:
            self.writer.write(data)
            await self.writer.drain()
            return
        for i in range(0, len(data), step):
            self.writer.write(data[i:i + step])
            await self.writer.drain()
            await asyncio.sleep(0.001)

    async def next_ws(self) -> tuple[int, bytes] | None:
        try:
            head = await self.reader.readexactly(2)
        except asyncio.IncompleteReadError:
            return None
        n = head[1] & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return head[0] & 0x0F, await self.reader.readexactly(n)

    async def frame(self) -> Frame:
        async with asyncio.timeout(3):
            while not self.frames:
                got = await self.next_ws()
                assert got is not None, "closed"
                opcode, data = got
                if opcode in (1, 2):
                    self.frames.extend(self.parser.feed(data))
                else:
                    self.control.append((opcode, data))
        return self.frames.pop(0)

    async def close_code(self) -> int:
        async with asyncio.timeout(3):
            while True:
                got = await self.next_ws()
                assert got is not None, "closed without a close frame"
                if got[0] == 8:
                    return int(struct.unpack("!H", got[1][:2])[0])

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def test_cut_frames_at_every_prefix() -> None:
    payloads = [b"a", b"b" * 200, b"c" * 70000]
    data = b"".join(client_frame(p, opcode=1 + i % 2) for i, p in enumerate(payloads))
    bounds = [0]
    for p in payloads:
        bounds.append(len(client_frame(p)) + bounds[-1])
    for cut in range(len(data) + 1):
        got, used, slow = cut_frames(data[:cut], None)
        whole = max(i for i, b in enumerate(bounds) if b <= cut)
        assert (got, used, slow) == (payloads[:whole], bounds[whole], False)
    assert cut_frames(data, 1000) == ([b"a", b"b" * 200], bounds[2], True)   # too big
    ping = client_frame(b"p", opcode=0x9)
    assert cut_frames(client_frame(b"x") + ping, None) == ([b"x"], 7, True)
    assert cut_frames(b"\x81\x01x", None) == ([], 0, True)                  # unmasked
    assert cut_frames(client_frame(b"x", fin=False), None) == ([], 0, True)


async def connected(hub: Harness, step: int = 0) -> RawWs:
    ws = await RawWs.open(hub.ws_port)
    await ws.send(client_frame(stomp("CONNECT", {"accept-version": "1.2", "login": "alice",
                                                 "passcode": "pa"})), step)
    assert (await ws.frame()).command is Command.CONNECTED
    return ws


async def test_frames_cut_at_every_byte_and_all_lengths(hub: Harness) -> None:
    ws = await connected(hub, step=1)
    try:
        await ws.send(client_frame(stomp("SUBSCRIBE", {"destination": "/topic/f", "id": "1",
                                                       "receipt": "s"})), step=3)
        assert (await ws.frame()).get("receipt-id") == "s"
        bodies = [b"small", b"m" * 300, b"L" * 70000]
        data = b"".join(client_frame(stomp("SEND", {"destination": "/topic/f"}, body),
                                     opcode=2) for body in bodies)
        await ws.send(data[:5000], step=7)       # byte-level cuts, then big chunks
        await ws.send(data[5000:], step=4096)
        assert [(await ws.frame()).body for _ in bodies] == bodies
    finally:
        await ws.close()


async def test_ping_hands_over_to_websockets(hub: Harness) -> None:
    ws = await connected(hub)
    try:
        sub = stomp("SUBSCRIBE", {"destination": "/topic/p", "id": "1", "receipt": "s"})
        # one TCP write: a data frame, a ping, then more data frames (websockets' turn)
        await ws.send(client_frame(sub) + client_frame(b"hi", opcode=0x9)
                      + client_frame(stomp("SEND", {"destination": "/topic/p"}, b"after"))
                      + client_frame(b"SEND\ndestination:/topic/p\n\nfrag", fin=False)
                      + client_frame(b"mented\x00", opcode=0x0))
        assert (await ws.frame()).get("receipt-id") == "s"
        assert (await ws.frame()).body == b"after"
        assert (await ws.frame()).body == b"fragmented"
        assert (0xA, b"hi") in ws.control            # pong from websockets
    finally:
        await ws.close()


async def test_a_fast_connection_holds_no_message_assembler(hub: Harness) -> None:
    """Data frames go to the Endpoint, never to websockets' Assembler: the connection
    holds a stub that only closes, on the fast path and after websockets took over."""
    ws = await connected(hub)
    try:
        await ws.send(client_frame(b"ping me", opcode=0x9)
                      + client_frame(stomp("SUBSCRIBE", {"destination": "/topic/a", "id": "1",
                                                        "receipt": "s"})))
        assert (await ws.frame()).get("receipt-id") == "s"
        [connection] = hub.broker.connections
        server_side = connection.link.conn   # type: ignore[attr-defined]
        assert server_side.stomp_fast is False        # websockets' parser after the ping
        assert server_side.recv_messages is ws_fastpath._NO_MESSAGES
    finally:
        await ws.close()
    await wait_for(lambda: not hub.broker.connections, timeout=5)


async def test_too_big_frame_is_closed_1009(make_broker: object) -> None:
    hub: Harness = await make_broker(max_frame_size=1000)  # type: ignore[operator]
    ws = await connected(hub)
    try:
        limit = 2 * 1000 + 64 * 1024
        await ws.send(client_frame(b"x" * (limit + 1)))
        assert await ws.close_code() == 1009
    finally:
        await ws.close()


async def test_unmasked_frame_is_a_protocol_error(hub: Harness) -> None:
    ws = await connected(hub)
    try:
        await ws.send(b"\x81\x02hi")
        assert await ws.close_code() == 1002
        # the client never closes its side: the server still lets go (close_timeout)
        await wait_for(lambda: not hub.broker.sessions, timeout=5)
    finally:
        await ws.close()


async def test_the_websockets_internals_the_fast_path_reads_are_still_there() -> None:
    """The fast path reads websockets internals (listed in ws_fastpath's docstring).  A
    websockets upgrade fails here first: re-read them, then move KNOWN_MAJOR_VERSION."""
    assert websockets.version.version.split(".")[0] == str(KNOWN_MAJOR_VERSION), (
        f"websockets {websockets.version.version}: check the fast path's internals")
    for name, params in (("data_received", ["self", "data"]), ("process_event", ["self", "event"]),
                         ("acknowledge_pings", ["self", "data"]),
                         ("connection_lost", ["self", "exc"]), ("resume_writing", ["self"]),
                         ("connection_made", ["self", "transport"])):
        assert list(inspect.signature(getattr(ServerConnection, name)).parameters) == params
    assert "self.transport = transport" in inspect.getsource(Connection.connection_made)
    # the Assembler the fast path replaces by a stub: only these touch it
    touching = {name for name, fn in inspect.getmembers(Connection, inspect.isfunction)
                if "recv_messages" in inspect.getsource(fn)}
    assert touching == {"__init__", "connection_made", "connection_lost", "process_event",
                        "recv", "recv_streaming"}, touching
    assert "recv_messages" not in inspect.getsource(FastConnection.process_event)
    conn = FastConnection(ServerProtocol(max_size=1000), server=None)  # type: ignore[arg-type]
    assert conn.request is None
    assert conn.protocol.state is WsState.CONNECTING
    assert isinstance(conn.protocol.reader.buffer, bytearray)
    assert conn.protocol.max_message_size == 1000
    assert apply_mask(b"\x00\x01\x02\x03\x04", b"\x01\x01\x01\x01") == b"\x01\x00\x03\x02\x05"
    assert (Opcode.CONT.value, Opcode.TEXT.value, Opcode.BINARY.value, Opcode.PONG.value) == (
        0, 1, 2, 10)


def test_an_unknown_websockets_version_turns_the_fast_path_off(
        caplog: pytest.LogCaptureFixture) -> None:
    ws_fastpath._warned = False
    with caplog.at_level(logging.WARNING, logger="stompim.broker.ws_fastpath"):
        assert not fast_path_usable("99.0")
        assert not fast_path_usable("99.1")
    assert len(caplog.records) == 1 and "public API" in caplog.records[0].getMessage()
    assert fast_path_usable(f"{KNOWN_MAJOR_VERSION}.4")
