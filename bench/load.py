"""Load primitives shared by the scenarios: flow control, publishers, sinks.

`Flow` bounds the work in flight: a publisher may be at most `window` messages ahead
of what came back (deliveries counted at the subscribers divided by the fan-out, or
receipts). `Sink` counts MESSAGE frames and keeps latency samples from the send
time stamped into every body. Publishers are bounded by count AND by a deadline.

Call order: `flow = Flow(window, per)`, `sink = Sink(flow)`, subscribers'
`on_message = sink.on_message`, then `await publish_windowed(...)` or
`await publish_paced(...)`, then `await sink.drain(expected, timeout)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from bench.measure import Progress
from bench.wire import STAMP, StompConn, encode

_perf_ns = time.perf_counter_ns
MAX_SAMPLES = 2_000_000


class Stalled(RuntimeError):
    """No progress for too long: the target dropped or stopped delivering."""


class Overloaded(RuntimeError):
    """A paced publisher stopped: the target fell too far behind the requested rate."""

    def __init__(self, sent: int, backlog: int, after_s: float) -> None:
        super().__init__(f"target fell {backlog} behind after {after_s:.1f}s ({sent} sent)")
        self.sent = sent
        self.backlog = backlog
        self.after_s = after_s


class Flow:
    """Window accounting between one or more publishers and the receiving side."""

    def __init__(self, window: int, per: int = 1) -> None:
        self.window = window
        self.per = max(1, per)
        self.low = max(1, window // 2)
        self.sent = 0
        self.done = 0  # deliveries (or receipts) counted back
        self._waiting = False
        self._event = asyncio.Event()

    def inflight(self) -> int:
        return self.sent - self.done // self.per

    def on_done(self) -> None:
        self.done += 1
        if self._waiting and self.sent - self.done // self.per <= self.low:
            self._waiting = False
            self._event.set()

    async def wait_room(self, timeout: float) -> None:
        self._event.clear()
        self._waiting = True
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            raise Stalled(
                f"no progress for {timeout:.0f}s with {self.inflight()} in flight"
            ) from None


class Sink:
    """Counts deliveries and records latency (ns) for every `sample_every`-th one."""

    def __init__(self, flow: Flow | None = None, sample_every: int = 1) -> None:
        self.flow = flow
        self.count = 0
        self.samples: list[int] = []
        self.sample_every = sample_every
        self.first_ns = 0
        self.last_ns = 0
        self.recording = True

    def reset(self) -> None:
        self.count = 0
        self.samples = []
        self.first_ns = self.last_ns = 0

    def on_message(self, frame: bytes) -> None:
        now = _perf_ns()
        self.count += 1
        self.last_ns = now
        if self.first_ns == 0:
            self.first_ns = now
        if (
            self.recording
            and self.count % self.sample_every == 0
            and len(self.samples) < MAX_SAMPLES
        ):
            i = frame.find(STAMP, frame.find(b"\n\n"))
            if i >= 0:
                with contextlib.suppress(ValueError):
                    self.samples.append(now - int(frame[i + 2 : i + 21]))
        flow = self.flow
        if flow is not None:
            flow.on_done()

    async def drain(self, expected: int, timeout: float, max_s: float = 60.0) -> bool:
        """Wait until `expected` deliveries arrived (True), nothing arrives for `timeout`,
        or `max_s` passed in all."""
        last = self.count
        idle_since = time.monotonic()
        give_up = idle_since + max_s
        while self.count < expected and time.monotonic() < give_up:
            await asyncio.sleep(0.02)
            if self.count != last:
                last = self.count
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > timeout:
                return False
        return True


def send_frame_factory(destination: str, size: int, extra: str = "") -> Callable[[], bytes]:
    """A callable giving a SEND frame with a fresh timestamp each call (hot path)."""
    prefix = f"SEND\ndestination:{destination}\ncontent-type:text/plain\n{extra}\n".encode()
    pad = b"x" * max(0, size - 21) + b"\x00"

    def make() -> bytes:
        return prefix + b"@@%019d" % _perf_ns() + pad

    return make


def subscribe(
    conn: StompConn, destination: str, sub_id: str = "0", receipt: str | None = None
) -> None:
    headers = {"id": sub_id, "destination": destination, "ack": "auto"}
    if receipt:
        headers["receipt"] = receipt
    conn.send(encode("SUBSCRIBE", headers))


async def publish_windowed(
    conn: StompConn,
    make: Callable[[], bytes],
    flow: Flow,
    total: int,
    deadline: float,
    progress: Progress | None = None,
    stall_s: float = 15.0,
) -> None:
    """Send up to `total` frames, never more than `flow.window` ahead; stop at `deadline`."""
    send = conn.send
    while flow.sent < total and time.monotonic() < deadline:
        if conn.is_closed:
            raise ConnectionError("publisher connection closed")
        room = flow.window - flow.inflight()
        if room <= 0:
            await flow.wait_room(stall_s)
            continue
        n = min(room, total - flow.sent, 512)
        for _ in range(n):
            send(make())
        flow.sent += n
        if progress is not None:
            progress.set(flow.done)
        await asyncio.sleep(0)


async def publish_paced(
    conns: list[StompConn],
    make: Callable[[int], bytes],
    rate: float,
    duration: float,
    progress: Progress | None = None,
    tick: float = 0.001,
    on_sent: Callable[[int], None] | None = None,
    acked: Callable[[], int] | None = None,
    max_backlog: int = 0,
) -> int:
    """Send `rate` frames per second for `duration` seconds, round-robin over `conns`.

    The schedule is absolute (sent = rate x elapsed), so a late tick catches up
    instead of lowering the rate. With `acked` and `max_backlog`, sending stops
    early (raising Overloaded) once more than `max_backlog` frames are unacknowledged:
    the target cannot sustain the rate, and queueing further only inflates latency.
    Returns the number sent.
    """
    start = time.perf_counter()
    total = int(rate * duration)
    sent = 0
    n_conns = len(conns)
    while sent < total:
        elapsed = time.perf_counter() - start
        if elapsed > duration + 5:
            break
        due = min(total, int(elapsed * rate) + 1)
        while sent < due:
            c = conns[sent % n_conns]
            c.send(make(sent))
            sent += 1
        if on_sent is not None:
            on_sent(sent)
        if acked is not None and max_backlog and sent - acked() > max_backlog:
            raise Overloaded(sent, sent - acked(), time.perf_counter() - start)
        if progress is not None:
            progress.set(sent)
        await asyncio.sleep(tick)
    return sent
