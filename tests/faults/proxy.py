"""A TCP proxy of the test suite's own, to put a real MariaDB or Redis behind a fault.

`TcpProxy(target_port)` listens on 127.0.0.1 (an ephemeral port) and relays every
connection to 127.0.0.1:target_port. Its mode switches at any time:

* ``PASS``: relays both ways.
* ``BLACKHOLE``: a hung path: new connections are accepted and held, nothing is relayed
  on any connection (bytes wait in the kernel buffers) until the mode changes back.
* ``REFUSE``: the port stops listening (connect: ECONNREFUSED) and every open
  connection is reset.

Only loopback, only the port given; `close()` ends everything. Counters say what went
through (connections accepted, bytes relayed), so a test can check the fault was real.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
from dataclasses import dataclass

__all__ = ["Mode", "ProxyStats", "TcpProxy"]


class Mode(enum.Enum):
    PASS = "pass"
    BLACKHOLE = "blackhole"
    REFUSE = "refuse"


@dataclass
class ProxyStats:
    accepted: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


class TcpProxy:
    """See the module docstring. `await proxy.start()` before use, `await close()` after."""

    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode = Mode.PASS
        self.stats = ProxyStats()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self) -> None:
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def set_mode(self, mode: Mode) -> None:
        """Switch the fault; returns once the new mode is in force."""
        if mode is self.mode:
            return
        previous, self.mode = self.mode, mode
        if mode is Mode.PASS:
            self._flowing.set()
        else:
            self._flowing.clear()
        if mode is Mode.REFUSE:
            await self._stop_listening()
            for writer in list(self._writers):
                _reset(writer)
        elif previous is Mode.REFUSE:
            await self._listen()

    async def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _spawn(self, coro: object) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode is Mode.REFUSE:
            _reset(writer)
            return
        self.stats.accepted += 1
        self._writers.add(writer)
        try:
            await self._flowing.wait()  # a blackholed connection is held, not relayed
            if self._closed:
                _reset(writer)
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                _reset(writer)
                return
            self._writers.add(up_writer)
            self._spawn(self._pipe(reader, up_writer, up=True))
            await self._pipe(up_reader, writer, up=False)
        finally:
            self._writers.discard(writer)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool
    ) -> None:
        try:
            while not self._closed:
                await self._flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()
                if up:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def close(self) -> None:
        self._closed = True
        self._flowing.set()  # wake what waits, to see it is closed
        await self._stop_listening()
        for writer in list(self._writers):
            _reset(writer)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0): the peer sees ECONNRESET, as from a crash."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
