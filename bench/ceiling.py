"""The database's own ceiling for persisted chat: the node's writes without the node.

A bare loop calls the project's own `MessageRepository.write_batch` (the very SQL the
node's chat writer runs: UPDATE of the conversations' last_seq, SELECT, multi-row
INSERT, cursor upsert, one commit) over the same driver (`stompim.store.open_database`,
aiomysql or aiosqlite) on the same database the node just used, one transaction at a
time as the node's single writer does, with the batch sizes the node formed during
its measured phase (recorded by bench.stompim_counted), replayed in order. The rows
are the same shape: private messages between the same pairs, the same content length.

What the loop leaves out is everything else the node does per batch: the rights
checks, idempotency lookup, conversation lookup, publishing, STOMP parsing and
receipts. stompim's stored msg/s divided by this figure says how much of what the
database can take the node delivers (issue 17 target: >= 60%).

Call order: run the node's phase with `batch_log`, then (node stopped)
`await ceiling(url, pairs, sizes, duration=..., db_pid=...)` -> dict.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bench.measure import Meter, Progress, log, percentiles

CONTENT_LEN = 61  # bench/scenarios/chat.py: "@@" + 19-digit stamp + 40 pad


def batch_summary(sizes: Sequence[int]) -> dict[str, Any]:
    """Count, mean and spread of batch sizes (what the node formed, what the loop replays)."""
    if not sizes:
        return {"batches": 0}
    s = sorted(sizes)
    n = len(s)
    return {
        "batches": n,
        "messages": sum(s),
        "mean": round(sum(s) / n, 1),
        "p50": s[n // 2],
        "p90": s[min(n - 1, int(0.9 * n))],
        "max": s[-1],
    }


def replay(sizes: Sequence[int], total: int) -> list[int]:
    """`sizes` in order, repeated as needed, until they add up to `total` messages
    (the last batch cut to fit). Empty `sizes` or `total` <= 0 gives []."""
    if not sizes or total <= 0 or max(sizes) <= 0:
        return []
    out: list[int] = []
    left = total
    i = 0
    while left > 0:
        n = sizes[i % len(sizes)]
        i += 1
        if n <= 0:
            continue
        n = min(n, left)
        out.append(n)
        left -= n
    return out


async def conversation_ids(url: str, pairs: Sequence[tuple[int, int]]) -> list[int]:
    """The private conversation of each (sender, receiver) pair, as the node made it."""
    from stompim.store import open_database
    from stompim.store.conversations import pair_key

    db = await open_database(url)
    try:
        out = []
        for a, b in pairs:
            cid = await db.fetch_val(
                "SELECT id FROM chat_conversation WHERE pair_key = ?", (pair_key(a, b),)
            )
            if cid is None:
                raise LookupError(f"no conversation between users {a} and {b}")
            out.append(int(cid))
        return out
    finally:
        await db.close()


async def ceiling(
    url: str,
    pairs: Sequence[tuple[int, int]],
    sizes: Sequence[int],
    *,
    total: int,
    duration: float,
    db_pid: int | None = None,
) -> dict[str, Any]:
    """Write `total` messages in batches of `sizes` (replayed), bounded by `duration` s.

    `pairs` are (sender_id, receiver_id); messages go round-robin over their
    conversations like the node's senders. Returns msg/s, per-batch commit latency,
    CPU of this loop (generator_cpu_pct) and of the database server (db_cpu_pct).
    """
    from stompim.store import open_database
    from stompim.store.messages import MessageRepository, NewMessage
    from stompim.store.records import ChatType, MessageDraft

    plan = replay(sizes, total)
    if not plan:
        return {"available": False, "reason": "no batch sizes recorded from the node"}
    conv = await conversation_ids(url, pairs)
    db = await open_database(url)
    try:
        repo = MessageRepository(db)
        meter = Meter(None, db_pid)
        prog = Progress("database ceiling (bare write_batch loop)", sum(plan))
        lat: list[int] = []
        written = 0
        k = 0
        deadline = time.monotonic() + duration
        meter.start()
        t0 = time.perf_counter()
        for n in plan:
            if time.monotonic() >= deadline:
                break
            now_ms = int(time.time() * 1000)
            items = []
            for _ in range(n):
                i = k % len(pairs)
                k += 1
                content = f"@@{time.perf_counter_ns():019d}" + "x" * (CONTENT_LEN - 21)
                items.append(
                    NewMessage(
                        conv[i], pairs[i][0], ChatType.PRIVATE, pairs[i][1],
                        MessageDraft("text", content, None, None), now_ms,
                    )
                )
            b0 = time.perf_counter_ns()
            outcomes = await repo.write_batch(items)
            lat.append(time.perf_counter_ns() - b0)
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            if failed:
                raise RuntimeError(f"ceiling batch failed: {failed[0]!r}")
            written += n
            prog.set(written)
        elapsed = time.perf_counter() - t0
        res: dict[str, Any] = dict(meter.stop())
        prog.finish()
    finally:
        await db.close()
    res.update(
        {
            "available": True,
            "messages": written,
            "batches": len(lat),
            "batch_sizes": batch_summary(plan[: len(lat)]),
            "connections": 1,
            "stored_msgs_per_s": round(written / elapsed) if elapsed else 0,
            "batch_commit_latency": percentiles(lat),
        }
    )
    log(
        f"  ceiling: {res['stored_msgs_per_s']:,} msg/s in {len(lat)} batches "
        f"(mean {res['batch_sizes'].get('mean')}), db cpu {res.get('db_cpu_pct')}%"
    )
    return res
