"""The one STOMP test client of the suite, over a raw TCP socket or a `websockets` client.

Frames go out encoded by the project's codec and replies are parsed by its parser, so
a test sees exactly the bytes the broker wrote.  Every wait is bounded (`TIMEOUT`) so
a broken broker fails a test instead of hanging it.  Frames that arrive while a test
waits for something else stay queued, in order (`receipt`, `answer`).

Call order: `await StompClient.tcp(port)` or `await StompClient.websocket(port)`, then
`connect(...)` (login/passcode, or `token=` for `Authorization: Bearer`), then any of
`send_frame`, `send`, `send_json`, `subscribe`, `frame`, `receipt`, `answer`,
`no_frame`, `closed`; finally `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from stompim.frames import Command, Frame, FrameParser, encode

__all__ = ["TIMEOUT", "StompClient", "json_body"]

TIMEOUT = 5.0


def json_body(frame: Frame) -> Any:
    return orjson.loads(frame.body)


class _Tcp:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes, binary: bool) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read(self) -> bytes | None:
        try:
            data = await self.reader.read(65536)
        except ConnectionError:
            return None
        return data or None

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class _Ws:
    def __init__(self, ws: ClientConnection, kinds: list[str]) -> None:
        self.ws = ws
        self.kinds = kinds

    async def send(self, data: bytes, binary: bool) -> None:
        await self.ws.send(data if binary else data.decode("utf-8"))

    async def read(self) -> bytes | None:
        try:
            message = await self.ws.recv()
        except ConnectionClosed:
            return None
        if isinstance(message, str):
            self.kinds.append("text")
            return message.encode("utf-8")
        self.kinds.append("binary")
        return bytes(message)

    async def close(self) -> None:
        await self.ws.close()


class StompClient:
    def __init__(self, transport: _Tcp | _Ws) -> None:
        self._transport = transport
        self.parser = FrameParser()
        self.frames: deque[Frame] = deque()
        self.version = "1.2"
        self.eof = False
        self.ws_kinds: list[str] = []   # "text"/"binary" per received WebSocket message
        if isinstance(transport, _Ws):
            transport.kinds = self.ws_kinds

    # ------------------------------------------------------------- opening

    @classmethod
    async def tcp(cls, port: int, *, rcvbuf: int | None = None,
                  source: str | None = None) -> StompClient:
        """A TCP connection to 127.0.0.1:`port` (`rcvbuf`: a small receive buffer, to
        play a consumer that does not keep up; `source`: another loopback address to
        connect from, e.g. 127.0.0.2, to play another client host)."""
        if rcvbuf is None:
            local = (source, 0) if source is not None else None
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=local)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(sock=sock)
        return cls(_Tcp(reader, writer))

    @classmethod
    async def websocket(cls, port: int, path: str = "/ws", subprotocols: list[str] | None = None,
                 **kwargs: Any) -> StompClient:
        """A WebSocket connection to ws://127.0.0.1:`port``path` (v12.stomp offered)."""
        ws = await ws_connect(
            f"ws://127.0.0.1:{port}{path}",
            subprotocols=(["v12.stomp"] if subprotocols is None else subprotocols) or None,
            compression=None, open_timeout=TIMEOUT, close_timeout=1, **kwargs,
        )
        return cls(_Ws(ws, []))

    @classmethod
    async def open(cls, transport: str, port: int, **kwargs: Any) -> StompClient:
        """`tcp` or `ws` by name."""
        if transport == "tcp":
            return await cls.tcp(port, **kwargs)
        return await cls.websocket(port, **kwargs)

    @property
    def ws(self) -> ClientConnection:
        """The websockets connection (WebSocket clients only)."""
        assert isinstance(self._transport, _Ws)
        return self._transport.ws

    async def close(self) -> None:
        await self._transport.close()

    # ------------------------------------------------------------- writing

    async def send_raw(self, data: bytes, *, binary: bool = False) -> None:
        await self._transport.send(data, binary)

    async def send_frame(self, command: str, headers: dict[str, str] | None = None,
                         body: bytes = b"") -> None:
        frame = Frame.build(Command(command), headers or {}, body)
        await self.send_raw(encode(frame, self.version))

    # ------------------------------------------------------------- reading

    async def _read(self) -> bytes | None:
        if self.eof:
            return None
        data = await self._transport.read()
        if data is None:
            self.eof = True
        return data

    async def frame_or_eof(self, timeout: float = TIMEOUT) -> Frame | None:
        """The next frame (heart-beats skipped), None once the server closed."""
        async with asyncio.timeout(timeout):
            while not self.frames:
                data = await self._read()
                if data is None:
                    return None
                self.frames.extend(self.parser.feed(data))
                assert self.parser.error is None, self.parser.error
        return self.frames.popleft()

    async def frame(self, timeout: float = TIMEOUT) -> Frame:
        """The next frame (heart-beats skipped); AssertionError on EOF, TimeoutError."""
        frame = await self.frame_or_eof(timeout)
        if frame is None:
            raise AssertionError("connection closed while waiting for a frame")
        return frame

    async def no_frame(self, wait: float = 0.2) -> None:
        """Assert nothing (but heart-beats) arrives within `wait` seconds."""
        try:
            frame = await self.frame(wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {frame}")

    async def closed(self, timeout: float = TIMEOUT) -> list[Frame]:
        """Read until the server closes; the frames received meanwhile (queued ones too)."""
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

    async def answer(self, receipt_id: str, timeout: float = TIMEOUT) -> Frame:
        """The next frame naming `receipt_id` (RECEIPT, ERROR, or a refusal MESSAGE);
        the frames before it stay queued, in order."""
        others: list[Frame] = []
        try:
            while True:
                reply = await self.frame(timeout)
                if reply.get("receipt-id") == receipt_id and reply.command is not Command.MESSAGE:
                    return reply
                others.append(reply)
        finally:
            self.frames.extendleft(reversed(others))

    async def receipt(self, receipt_id: str, timeout: float = TIMEOUT) -> Frame:
        """The RECEIPT `receipt_id` (an ERROR on the way fails the test)."""
        reply = await self.answer(receipt_id, timeout)
        assert reply.command is Command.RECEIPT, reply
        return reply

    async def messages(self, n: int, timeout: float = TIMEOUT) -> list[Frame]:
        """The next `n` frames, which must all be MESSAGEs."""
        out = [await self.frame(timeout) for _ in range(n)]
        assert all(f.command is Command.MESSAGE for f in out), out
        return out

    # ------------------------------------------------------------ commands

    async def connect(self, login: str = "alice", passcode: str = "pa", *,
                      version: str = "1.2", token: str | None = None, **extra: str) -> Frame:
        """CONNECT with login/passcode, or with `Authorization: Bearer <token>`; the
        reply (CONNECTED or ERROR).  `extra`: more headers, `_` for `-` in names."""
        headers = {"accept-version": version, "host": "localhost"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        elif login:
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
                        receipt: str | None = "", **extra: str) -> None:
        """SUBSCRIBE and wait for its RECEIPT (`receipt=None`: do not ask for one; the
        default receipt id is `sub-<sub_id>`).  `extra`: e.g. x_since_seq="4"."""
        headers = {"destination": destination, "id": sub_id, "ack": ack}
        headers.update({k.replace("_", "-"): v for k, v in extra.items()})
        if receipt is not None:
            headers["receipt"] = receipt or f"sub-{sub_id}"
        await self.send_frame("SUBSCRIBE", headers)
        if receipt is not None:
            await self.receipt(headers["receipt"])

    async def send(self, destination: str, body: bytes = b"", receipt: str | None = None,
                   **extra: str) -> Frame | None:
        """SEND; with `receipt`, wait for its RECEIPT and return it."""
        headers = {"destination": destination}
        headers.update({k.replace("_", "-"): v for k, v in extra.items()})
        if receipt:
            headers["receipt"] = receipt
        await self.send_frame("SEND", headers, body)
        if receipt:
            return await self.receipt(receipt)
        return None

    async def send_json(self, destination: str, receipt: str, **fields: Any) -> Frame:
        """SEND a JSON object and wait for its answer: a RECEIPT with `message-id`
        (stored) or with `x-error-code` (refused)."""
        await self.send_frame("SEND", {"destination": destination, "receipt": receipt,
                                       "content-type": "application/json"},
                              orjson.dumps(fields))
        return await self.receipt(receipt)
