"""The broker's hot path in one process, for A/B runs of two source trees on a busy machine.

One publisher session sends N generic SENDs (100-byte bodies, 100 frames per chunk, as
a TCP read delivers them) to a topic with K auto-ack subscriber sessions; links are
fakes that drop what is written, so what is measured is the broker's own work: parse,
route, render per version, buffer, flush once per loop turn.  Printed: process CPU per
delivered message (CPU time, not wall time, so other load on the machine moves it less
than it moves throughput) for K = 1, 200, 1000, over TCP-like and WebSocket-like
sessions.

Compare two trees by alternating them, each run naming its tree with PYTHONPATH:

    PYTHONPATH=/path/to/before .venv/bin/python -m bench.broker_inprocess before
    PYTHONPATH=. .venv/bin/python -m bench.broker_inprocess after

(from a directory other than the repository's, so that PYTHONPATH decides the tree).
A third argument `tcp` runs the TCP 1->1 case alone, e.g. under py-spy:
`py-spy record -f raw -o out.txt -- .venv/bin/python -m bench.broker_inprocess after tcp`.

Trees from before the sans-I/O session (stompim/broker/session.py with `feed`) are
driven through `Broker.open_session`; later ones through `Broker.accept`.  No socket.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable
from typing import Any

from stompim.broker import Broker, StaticAuthenticator
from stompim.config import Config
from stompim.frames import Command, Frame, encode

CASES = ((1, 200_000, False), (1, 200_000, True), (200, 4_000, True), (1000, 1_000, True))
USERS = {f"u{i}": (i + 1, "p") for i in range(1001)}


class NullLink:
    """Accepts writes and drops them; never congested."""

    def write(self, chunks: list[tuple[bytes, bool]]) -> None:
        return None

    def buffered(self) -> int:
        return 0

    def close(self) -> None:
        return None

    def abort(self) -> None:
        return None

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


def _frame(command: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    return encode(Frame.build(Command(command), headers, body))


def _opener(broker: Any, websocket: bool) -> Callable[[], Callable[[bytes], None]]:
    def open_one() -> Callable[[bytes], None]:
        if hasattr(broker, "accept"):
            return broker.accept(NullLink(), websocket=websocket).receive  # type: ignore[no-any-return]
        return broker.open_session(NullLink(), websocket=websocket).feed  # type: ignore[no-any-return]
    return open_one


async def case(subscribers: int, sends: int, websocket: bool) -> float:
    """CPU seconds per delivery."""
    config = Config().replace(stomp={"heartbeat_send_ms": 0, "heartbeat_receive_ms": 0}).stomp
    broker = Broker(config, StaticAuthenticator(USERS), node_id="b")
    open_one = _opener(broker, websocket)
    feeds = [open_one() for _ in range(subscribers + 1)]
    for i, feed in enumerate(feeds):
        feed(_frame("CONNECT", {"accept-version": "1.2", "login": f"u{i}", "passcode": "p"}))
    for _ in range(20):   # authentication runs as tasks
        await asyncio.sleep(0)
    for feed in feeds[1:]:
        feed(_frame("SUBSCRIBE", {"destination": "/topic/t", "id": "1"}))
    await asyncio.sleep(0)
    chunk = _frame("SEND", {"destination": "/topic/t"}, b"x" * 100) * 100
    publish = feeds[0]
    gc.collect()
    cpu = time.process_time()
    for _ in range(sends // 100):
        publish(chunk)
        await asyncio.sleep(0)    # the broker's flush pass
    await asyncio.sleep(0)
    cpu = time.process_time() - cpu
    await broker.close()
    return cpu / (sends * subscribers)


async def run(label: str, only_tcp: bool = False) -> str:
    parts = []
    for subscribers, sends, websocket in CASES[:1] if only_tcp else CASES:
        per = await case(subscribers, sends, websocket)
        kind = "ws" if websocket else "tcp"
        parts.append(f"{kind} x{subscribers} {per * 1e6:.3f}")
    return f"{label}: us/delivery " + ", ".join(parts)


if __name__ == "__main__":
    print(asyncio.run(run(sys.argv[1] if len(sys.argv) > 1 else "run",
                          only_tcp=sys.argv[2:3] == ["tcp"])))
