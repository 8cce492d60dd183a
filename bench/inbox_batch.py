"""The chat batch writer's storage cost alone, for A/B runs of two source trees.

`MessageRepository.write_batch` (the transaction the node's single chat writer runs per
batch) on a fresh SQLite file and a fresh MariaDB database, private messages over 20
user pairs, batch sizes 1, 20 and 200, one transaction at a time as the node writes:
stored msg/s and the batch's commit latency (p50, p99), and the process CPU per message.
No broker, no sockets: what a change to the batch's statements costs shows without the
scatter of a whole node on a shared machine.

    PYTHONPATH=/path/to/before .venv/bin/python -m bench.inbox_batch before
    PYTHONPATH=. .venv/bin/python -m bench.inbox_batch after

Only loopback; the databases are created and dropped by the run; every loop is bounded
in count (MESSAGES per size) and time (SECONDS per size).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from bench.imnode import im_database
from bench.measure import percentiles

SIZES = (1, 20, 200)
MESSAGES = 6000
SECONDS = 8.0
PAIRS = 20


async def _one(kind: str, size: int) -> dict[str, Any]:
    from stompim.store import migrate, open_database
    from stompim.store.conversations import ConversationRepository
    from stompim.store.messages import MessageRepository, NewMessage
    from stompim.store.records import ChatType, MessageDraft

    async with im_database(kind, "ib") as target:
        db = await open_database(target.url)
        try:
            await migrate(db)
            pairs = [(2 * i + 1, 2 * i + 2) for i in range(PAIRS)]
            convs = ConversationRepository(db)
            conv = [(await convs.ensure_private(a, b, 1)).id for a, b in pairs]
            repo = MessageRepository(db)
            latencies: list[int] = []
            written, k = 0, 0
            cpu0, t0 = time.process_time(), time.perf_counter()
            deadline = time.monotonic() + SECONDS
            while written < MESSAGES and time.monotonic() < deadline:
                items = []
                for _ in range(size):
                    i = k % PAIRS
                    k += 1
                    items.append(NewMessage(conv[i], pairs[i][0], ChatType.PRIVATE, pairs[i][1],
                                            MessageDraft("text", "x" * 61, None, None), k))
                b0 = time.perf_counter_ns()
                outcomes = await repo.write_batch(items)
                latencies.append(time.perf_counter_ns() - b0)
                if any(isinstance(o, BaseException) for o in outcomes):
                    raise RuntimeError(f"a batch failed: {outcomes}")
                written += size
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
        finally:
            await db.close()
    lat = percentiles(latencies)
    return {
        "db": kind, "batch": size, "messages": written,
        "msgs_per_s": round(written / elapsed),
        "commit_p50_ms": lat.get("p50_ms"), "commit_p99_ms": lat.get("p99_ms"),
        "cpu_us_per_msg": round(cpu / written * 1e6, 1),
    }


async def main(label: str) -> None:
    for kind in ("sqlite", "mariadb"):
        for size in SIZES:
            r = await _one(kind, size)
            print(f"{label} {r['db']:8s} batch {r['batch']:4d}: {r['msgs_per_s']:7,} msg/s,"
                  f" commit p50 {r['commit_p50_ms']} p99 {r['commit_p99_ms']} ms,"
                  f" cpu {r['cpu_us_per_msg']} us/msg", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "run"))
