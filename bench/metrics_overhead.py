"""What the /metrics counters add to the broker's hot path, statement by statement.

The A/B runs of bench.broker_inprocess swing by more than the counters could cost on a
loaded machine, so this times the added work in isolation (process CPU, best of 5 runs
of a million each): per SEND the frame count by command and the published count, per
chunk read the clock and the bookkeeping of `Broker.published`, per flush pass one
`Buckets.observe`.  Per delivery nothing was added (MESSAGE frames were counted before).

    .venv/bin/python -m bench.metrics_overhead   # also writes bench/results/metrics_overhead.json
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from stompim.broker.exchange import Stats
from stompim.frames import Command

N = 1_000_000


def _best(fn: Callable[[int], None], runs: int = 5) -> float:
    """Best CPU seconds per iteration of `fn(N)`, minus the empty loop's."""
    def cpu(f: Callable[[int], None]) -> float:
        best = float("inf")
        for _ in range(runs):
            started = time.process_time()
            f(N)
            best = min(best, time.process_time() - started)
        return best / N

    def empty(n: int) -> None:
        for _ in range(n):
            pass

    return max(0.0, cpu(fn) - cpu(empty))


class _Ctx:
    def __init__(self) -> None:
        self.stats = Stats()


def per_send(n: int) -> None:
    ctx = _Ctx()
    command = Command.SEND
    for _ in range(n):
        ctx.stats.frames_in[command] += 1     # SessionCore.dispatch
        ctx.stats.published += 1              # send.perform_send


def per_chunk(n: int) -> None:
    stats = Stats()
    clock = time.monotonic
    pending: list[tuple[float, int]] = []
    for _ in range(n):
        now = clock()                         # Connection.receive
        published = stats.published
        stats.published += 100
        if stats.published != published:
            pending.append((now, stats.published - published))   # Broker.published
        if len(pending) > 1000:
            pending.clear()


def per_pass(n: int) -> None:
    stats = Stats()
    clock = time.monotonic
    for _ in range(n):
        stats.send_delivery.observe(clock() - 1.0, 100)   # Broker._service_all


def main() -> None:
    send, chunk, flush = _best(per_send), _best(per_chunk), _best(per_pass)
    print(f"per SEND {send * 1e9:.0f} ns; per chunk read {chunk * 1e9:.0f} ns; "
          f"per flush pass {flush * 1e9:.0f} ns")
    # bench.broker_inprocess: 100 SENDs per chunk, one flush pass per chunk
    per_message = send + (chunk + flush) / 100
    print(f"per SEND of 100-frame chunks: {per_message * 1e9:.0f} ns "
          f"(per delivery to 1 subscriber the same; to K subscribers divided by K)")
    out = {
        "command": "python -m bench.metrics_overhead",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "per_send_ns": round(send * 1e9, 1),
        "per_chunk_read_ns": round(chunk * 1e9, 1),
        "per_flush_pass_ns": round(flush * 1e9, 1),
        "per_send_in_chunks_ns": round(per_message * 1e9, 1),
        "note": "process CPU, best of 5 x 1,000,000, empty loop subtracted; instruction "
                "counts under callgrind: bench/results/metrics.md",
    }
    path = Path(__file__).resolve().parent / "results" / "metrics_overhead.json"
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
