"""The load generator's own STOMP client core: frame encoding and a minimal, fast reader.

Why not `stompim.frames`: the generator must cost far less CPU per frame than the
broker it measures, and must work against RabbitMQ and the raw ceiling server too.
So it reads only what a benchmark needs — the command of each server frame, the
`receipt-id` of a RECEIPT, and a timestamp marker inside MESSAGE bodies — and never
builds header dictionaries on the hot path.

Assumption (documented, checked by tests): frames end at the first NUL, i.e. no
body the generator receives contains a NUL byte. Every body the scenarios send is
ASCII text, so this holds for all three targets.

Call order for a connection: `StompConn(send_bytes)`, transport calls `feed(data)`
for every chunk it reads and `lost(exc)` once when it closes; the scenario calls
`connect_frame(...)` / `send(...)` and awaits `connected` / `closed`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

NUL = b"\x00"
STAMP = b"@@"  # marker in front of the 19-digit perf_counter_ns send time in a body
STAMP_DIGITS = 19


def encode(command: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """One STOMP frame. Header values here are benchmark-controlled: no escaping needed."""
    lines = [command]
    if headers:
        lines.extend(f"{k}:{v}" for k, v in headers.items())
    return ("\n".join(lines) + "\n\n").encode() + body + NUL


def stamped_body(size: int, now_ns: int | None = None) -> bytes:
    """A `size`-byte ASCII body that starts with the send time (for latency)."""
    ns = time.perf_counter_ns() if now_ns is None else now_ns
    head = b"@@%019d" % ns
    return head + b"x" * max(0, size - len(head))


def read_stamp(frame: bytes) -> int:
    """The send time stamped in a frame's body, or -1 if it carries none."""
    i = frame.find(STAMP, frame.find(b"\n\n"))
    if i < 0:
        return -1
    try:
        return int(frame[i + 2 : i + 2 + STAMP_DIGITS])
    except ValueError:
        return -1


def header_value(frame: bytes, name: bytes) -> bytes | None:
    """The first value of header `name` in a frame (slow path: CONNECTED, RECEIPT, ERROR)."""
    end = frame.find(b"\n\n")
    head = frame if end < 0 else frame[:end]
    for line in head.split(b"\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key == name:
            return value.rstrip(b"\r")
    return None


class StompConn:
    """Client-side STOMP state of one connection, independent of the transport.

    Callbacks (set by scenarios, may be None): `on_message(frame_bytes)`,
    `on_receipt(receipt_id_bytes)`. Counters: `messages`, `receipts`, `heartbeats`.
    `last_rx` is the monotonic time of the last bytes received (heart-beat liveness).
    """

    __slots__ = (
        "_buf",
        "_close_cb",
        "_send",
        "closed",
        "connected",
        "connected_frame",
        "error",
        "heartbeats",
        "last_rx",
        "messages",
        "on_message",
        "on_receipt",
        "receipts",
    )

    def __init__(self, send_bytes: Callable[[bytes], None], close: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self._send = send_bytes
        self._close_cb = close
        self._buf = b""
        self.on_message: Callable[[bytes], None] | None = None
        self.on_receipt: Callable[[bytes], None] | None = None
        self.messages = 0
        self.receipts = 0
        self.heartbeats = 0
        self.last_rx = time.monotonic()
        self.connected: asyncio.Future[bytes] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.error: bytes | None = None
        self.connected_frame = b""

    # -- outbound -----------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self._send(data)

    def close(self) -> None:
        self._close_cb()

    @property
    def is_closed(self) -> bool:
        return self.closed.done()

    # -- inbound (called by the transport) -------------------------------------------
    def feed(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        if self._buf:
            data = self._buf + data
            self._buf = b""
        end = data.find(NUL)
        if end < 0:
            if data.strip(b"\r\n"):
                self._buf = data
            else:
                self.heartbeats += 1
            return
        start = 0
        while end >= 0:
            self._dispatch(data[start:end])
            start = end + 1
            end = data.find(NUL, start)
        if start < len(data):
            rest = data[start:]
            if rest.strip(b"\r\n"):
                self._buf = rest
            else:
                self.heartbeats += 1

    def _dispatch(self, frame: bytes) -> None:
        first = frame[:1]
        if first == b"\n" or first == b"\r":
            frame = frame.lstrip(b"\r\n")
            self.heartbeats += 1
            first = frame[:1]
        if first == b"M":
            self.messages += 1
            cb = self.on_message
            if cb is not None:
                cb(frame)
        elif first == b"R":
            self.receipts += 1
            cb = self.on_receipt
            if cb is not None:
                rid = header_value(frame, b"receipt-id")
                cb(rid if rid is not None else b"")
        elif frame.startswith(b"CONNECTED"):
            self.connected_frame = frame
            if not self.connected.done():
                self.connected.set_result(frame)
        elif frame.startswith(b"ERROR"):
            self.error = frame
            if not self.connected.done():
                self.connected.set_exception(ConnectionRefusedError(describe_error(frame)))

    def lost(self, exc: BaseException | None = None) -> None:
        if not self.connected.done():
            self.connected.set_exception(
                ConnectionError(f"connection closed before CONNECTED: {exc}")
            )
        if not self.closed.done():
            self.closed.set_result(None)


def describe_error(frame: bytes) -> str:
    """`message` header plus the start of the body of an ERROR frame."""
    msg = header_value(frame, b"message") or b""
    body = frame.partition(b"\n\n")[2][:200]
    return (msg + b" " + body).decode("utf-8", "replace").strip()


def connect_frame(
    host: str = "/",
    login: str | None = None,
    passcode: str | None = None,
    heartbeat: tuple[int, int] = (0, 0),
    extra: dict[str, str] | None = None,
) -> bytes:
    headers = {
        "accept-version": "1.2,1.1,1.0",
        "host": host,
        "heart-beat": f"{heartbeat[0]},{heartbeat[1]}",
    }
    if login is not None:
        headers["login"] = login
    if passcode is not None:
        headers["passcode"] = passcode
    if extra:
        headers.update(extra)
    return encode("CONNECT", headers)


def negotiated_heartbeat(connected: bytes, ours: tuple[int, int]) -> tuple[int, int]:
    """(we must send every ms, we may expect from server every ms).

    Per STOMP 1.2 "Heart-beating"."""
    hb = header_value(connected, b"heart-beat") or b"0,0"
    try:
        sx, sy = (int(v) for v in hb.split(b","))
    except ValueError:
        return (0, 0)
    cx, cy = ours
    send = 0 if cx == 0 or sy == 0 else max(cx, sy)
    recv = 0 if cy == 0 or sx == 0 else max(cy, sx)
    return (send, recv)
