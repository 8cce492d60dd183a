"""MariaDB commits/s at small batch sizes, over the node's own store code.

The capacity model's write side (docs/capacity.md) needs the database's transaction rate
at the batch sizes many lightly loaded nodes form (1 to a few tens of messages), not only
the large batches one saturated node forms. This loop calls the project's own
`MessageRepository.write_batch` (the SQL of the node's chat writer: conversations' last_seq,
multi-row INSERT, cursor upsert, one COMMIT) through `stompim.store.open_database`
(aiomysql), `writers` connections at once (one per node of a cluster: each node has one
chat writer), each writing batches of `batch` private messages round-robin over the given
conversations, for `seconds` (or `max_batches` per writer).

Figures per case: commits/s, msg/s, commit latency percentiles, the loop's own CPU per
batch (what a node's writer spends in the driver, `client_cpu_s_per_batch`) and MariaDB's
CPU. Run by bench/cluster4.py on the cluster's database after its nodes stopped, over the
private conversations the run's senders made.

Call order: `await run_cases(url, conversations, db_pid=...)` -> list of dicts.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Sequence
from typing import Any

from bench.measure import Meter, log, percentiles

BATCHES = (1, 4, 16, 64)
WRITERS = (1, 4)
CONTENT = "@@" + "0" * 19 + "x" * 40  # the chat bench's 61-character content


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def _writer(
    url: str, convs: Sequence[tuple[int, int, int]], batch: int, deadline: float,
    max_batches: int, lat: list[int], offset: int,
) -> int:
    from stompim.store import open_database
    from stompim.store.messages import MessageRepository, NewMessage
    from stompim.store.records import ChatType, MessageDraft

    db = await open_database(url, pool_min=1, pool_max=1)
    written = 0
    try:
        repo = MessageRepository(db)
        k = offset
        n = 0
        while time.monotonic() < deadline and n < max_batches:
            now_ms = int(time.time() * 1000)
            items = []
            for _ in range(batch):
                cid, sender, peer = convs[k % len(convs)]
                k += 1
                items.append(NewMessage(cid, sender, ChatType.PRIVATE, peer,
                                        MessageDraft("text", CONTENT, None, None), now_ms))
            t0 = time.perf_counter_ns()
            outcomes = await repo.write_batch(items)
            lat.append(time.perf_counter_ns() - t0)
            bad = [o for o in outcomes if isinstance(o, BaseException)]
            if bad:
                raise RuntimeError(f"batch failed: {bad[0]!r}")
            written += batch
            n += 1
    finally:
        await db.close()
    return written


async def run_case(
    url: str, convs: Sequence[tuple[int, int, int]], batch: int, writers: int,
    seconds: float, db_pid: int | None, max_batches: int = 1_000_000,
) -> dict[str, Any]:
    """One case: `writers` connections each committing batches of `batch` messages.
    Writers take disjoint slices of `convs` (as nodes own distinct senders)."""
    lat: list[int] = []
    meter = Meter(None, db_pid)
    cpu0 = _cpu()
    meter.start()
    t0 = time.perf_counter()
    deadline = time.monotonic() + seconds
    per = max(1, len(convs) // writers)
    written = await asyncio.gather(*(
        _writer(url, convs[i * per:(i + 1) * per] or convs, batch, deadline, max_batches,
                lat, 0)
        for i in range(writers)))
    elapsed = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    res: dict[str, Any] = dict(meter.stop())
    commits = len(lat)
    res.update({
        "batch": batch,
        "writers": writers,
        "messages": sum(written),
        "commits": commits,
        "commits_per_s": round(commits / elapsed, 1) if elapsed else 0,
        "msgs_per_s": round(sum(written) / elapsed, 1) if elapsed else 0,
        "commit_latency": percentiles(lat),
        "client_cpu_s_per_batch": round(cpu / commits, 7) if commits else None,
    })
    log(f"  batch {batch:>2} x {writers} writers: {res['commits_per_s']:,} commits/s, "
        f"{res['msgs_per_s']:,} msg/s, p50 {res['commit_latency'].get('p50_ms')} ms, "
        f"loop CPU {res['generator_cpu_pct']}%, MariaDB CPU {res.get('db_cpu_pct')}%")
    return res


async def run_cases(
    url: str, convs: Sequence[tuple[int, int, int]], *, seconds: float = 4.0,
    db_pid: int | None = None, batches: Sequence[int] = BATCHES,
    writers: Sequence[int] = WRITERS,
) -> list[dict[str, Any]]:
    """Every (writers, batch) case in turn, after a short unrecorded warm-up."""
    await run_case(url, convs, 1, 1, 1.0, db_pid)
    return [await run_case(url, convs, b, w, seconds, db_pid)
            for w in writers for b in batches]
