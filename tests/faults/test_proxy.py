"""The fault proxy itself, against a loopback echo server: it relays, holds, refuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from .proxy import Mode, TcpProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    proxy = TcpProxy(server.sockets[0].getsockname()[1])
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()


async def _round_trip(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await reader.readexactly(len(data))
    finally:
        writer.close()


async def test_pass_blackhole_refuse_and_back(proxy: TcpProxy) -> None:
    assert await _round_trip(proxy.port, b"hello") == b"hello"

    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"one")
    assert await reader.readexactly(3) == b"one"
    await proxy.set_mode(Mode.BLACKHOLE)
    writer.write(b"two")  # held: nothing comes back while the path hangs
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await reader.readexactly(3)
    held = asyncio.create_task(_round_trip(proxy.port, b"new"))  # accepted, held too
    await asyncio.sleep(0.2)
    assert not held.done()
    await proxy.set_mode(Mode.PASS)  # what was held flows on
    assert await reader.readexactly(3) == b"two"
    assert await asyncio.wait_for(held, 2) == b"new"

    await proxy.set_mode(Mode.REFUSE)
    with pytest.raises(ConnectionError):  # the open connection was reset
        writer.write(b"x")
        await writer.drain()
        if not await reader.read(1):
            raise ConnectionResetError
    with pytest.raises(OSError):  # and nobody listens
        await asyncio.open_connection("127.0.0.1", proxy.port)
    await proxy.set_mode(Mode.PASS)
    assert await _round_trip(proxy.port, b"back") == b"back"
    assert proxy.stats.accepted >= 3 and proxy.stats.bytes_up >= 14
