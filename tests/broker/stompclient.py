"""A tiny STOMP test client over a raw TCP socket or a `websockets` client.

Frames go out encoded by the codec; replies are parsed by the codec's parser.
Every wait is bounded (default 3 s) so a broken broker fails a test instead of
hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from stompim.frames import Command, Frame, FrameParser, encode

TIMEOUT = 3.0


class StompClient:
    def __init__(self) -> None:
        self.parser = FrameParser()
        self.frames: deque[Frame] = deque()
        self.version = "1.2"
        self.eof = False
        self.ws_kinds: list[str] = []   # "text"/"binary" per received WS message

    # transport-specific ----------------------------------------------------
    async def send_raw(self, data: bytes, *, binary: bool = False) -> None:
        raise NotImplementedError

    async def _read(self) -> bytes | None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    # common ----------------------------------------------------------------
    async def send_frame(self, command: str, headers: dict[str, str] | None = None,
                         body: bytes = b"") -> None:
        await self.send_raw(encode(Frame.build(Command(command), headers or {}, body),
                                   self.version))

    async def frame(self, timeout: float = TIMEOUT) -> Frame:
        """Next frame (heart-beats skipped); AssertionError on EOF or timeout."""
        async with asyncio.timeout(timeout):
            while not self.frames:
                data = await self._read()
                if data is None:
                    raise AssertionError("connection closed while waiting for a frame")
                self.frames.extend(self.parser.feed(data))
                assert self.parser.error is None, self.parser.error
        return self.frames.popleft()

    async def no_frame(self, wait: float = 0.2) -> None:
        """Assert nothing (but heart-beats) arrives within `wait` seconds."""
        try:
            frame = await self.frame(wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {frame}")

    async def closed(self, timeout: float = TIMEOUT) -> list[Frame]:
        """Read until the server closes; returns frames received meanwhile."""
        got = list(self.frames)
        self.frames.clear()
        async with asyncio.timeout(timeout):
            while True:
                data = await self._read()
                if data is None:
                    return got
                got.extend(self.parser.feed(data))

    async def raw_until_closed(self, timeout: float = TIMEOUT) -> bytes:
        chunks = []
        async with asyncio.timeout(timeout):
            while (data := await self._read()) is not None:
                chunks.append(data)
        return b"".join(chunks)

    async def connect(self, login: str = "alice", passcode: str = "pa", *,
                      version: str = "1.2", **extra: str) -> Frame:
        headers = {"accept-version": version, "host": "localhost"}
        if login:
            headers["login"] = login
            headers["passcode"] = passcode
        headers.update({k.replace("_", "-"): v for k, v in extra.items()})
        await self.send_frame("CONNECT", headers)
        reply = await self.frame()
        if reply.command is Command.CONNECTED:
            self.version = reply.get("version") or "1.0"
            self.parser.version = self.version
        return reply

    async def subscribe(self, destination: str, sub_id: str = "0", ack: str = "auto",
                        receipt: str | None = "sub", **extra: str) -> None:
        headers = {"destination": destination, "id": sub_id, "ack": ack}
        headers.update({k.replace("_", "-"): v for k, v in extra.items()})
        if receipt:
            headers["receipt"] = receipt
        await self.send_frame("SUBSCRIBE", headers)
        if receipt:
            await self.receipt(receipt)

    async def receipt(self, receipt_id: str, timeout: float = TIMEOUT) -> Frame:
        """Wait for RECEIPT `receipt_id`; other frames stay queued, in order."""
        others: list[Frame] = []
        try:
            while True:
                reply = await self.frame(timeout)
                if reply.command is Command.RECEIPT and reply.get("receipt-id") == receipt_id:
                    return reply
                assert reply.command is not Command.ERROR, reply
                others.append(reply)
        finally:
            self.frames.extendleft(reversed(others))

    async def send(self, destination: str, body: bytes = b"", receipt: str | None = None,
                   **extra: str) -> Frame | None:
        headers = {"destination": destination}
        headers.update({k.replace("_", "-"): v for k, v in extra.items()})
        if receipt:
            headers["receipt"] = receipt
        await self.send_frame("SEND", headers, body)
        if receipt:
            return await self.frame()
        return None


class TcpClient(StompClient):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__()
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, rcvbuf: int | None = None) -> TcpClient:
        sock = None
        if rcvbuf is not None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(sock=sock)
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send_raw(self, data: bytes, *, binary: bool = False) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def _read(self) -> bytes | None:
        if self.eof:
            return None
        try:
            data = await self.reader.read(65536)
        except ConnectionError:
            data = b""
        if not data:
            self.eof = True
            return None
        return data

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class WsClient(StompClient):
    def __init__(self, ws: ClientConnection) -> None:
        super().__init__()
        self.ws = ws

    @classmethod
    async def open(cls, port: int, path: str = "/ws", subprotocols: list[str] | None = None,
                   **kwargs: object) -> WsClient:
        ws = await ws_connect(
            f"ws://127.0.0.1:{port}{path}",
            subprotocols=(["v12.stomp"] if subprotocols is None else subprotocols) or None,
            compression=None, open_timeout=TIMEOUT, close_timeout=1, **kwargs,  # type: ignore[arg-type]
        )
        return cls(ws)

    async def send_raw(self, data: bytes, *, binary: bool = False) -> None:
        if binary:
            await self.ws.send(data)
        else:
            await self.ws.send(data.decode("utf-8"))

    async def _read(self) -> bytes | None:
        if self.eof:
            return None
        try:
            message = await self.ws.recv()
        except ConnectionClosed:
            self.eof = True
            return None
        if isinstance(message, str):
            self.ws_kinds.append("text")
            return message.encode("utf-8")
        self.ws_kinds.append("binary")
        return bytes(message)

    async def close(self) -> None:
        await self.ws.close()
