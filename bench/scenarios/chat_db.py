"""`bench chat --db sqlite|mariadb|both [--ceiling]`: persisted private chat per database,
and the database's own ceiling measured in the same run.

For each database: an empty database (bench/imnode.py), a node on it, `run_chat`
(max stored msg/s, receipt latency at 2,000 and 5,000 msg/s); with `--ceiling` the
node records its chat batch sizes, is stopped, and bench/ceiling.py writes the same
number of messages in the same batch sizes into the same database with no node in
between. The result carries both figures and `stompim_over_ceiling` (target >= 0.6).

Call order: `await run_chat_db(kind, ctx, ceiling=True)` -> result dict for chat.json
(key `stompim` for MariaDB, `stompim-sqlite` for SQLite: see `result_key`).
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import mariadb
from bench.ceiling import batch_summary, ceiling
from bench.imnode import database_version, im_database, im_node
from bench.measure import log, wait_quiet
from bench.scenarios.chat import not_available, run_chat
from bench.scenarios.generic import Ctx
from bench.stompim_counted import read_batch_log
from bench.targets import TargetUnavailable

PROFILES = Path(__file__).resolve().parent.parent / "results" / "profiles"


def result_key(kind: str) -> str:
    """chat.json's run key: MariaDB keeps the first round's `stompim`."""
    return "stompim" if kind == "mariadb" else f"stompim-{kind}"


def ceiling_ratio(stompim_msgs_per_s: Any, ceiling_msgs_per_s: Any) -> float | None:
    """stompim / ceiling, or None when either figure is missing."""
    ok = all(
        isinstance(v, (int, float)) and not isinstance(v, bool)
        for v in (stompim_msgs_per_s, ceiling_msgs_per_s)
    )
    if not ok or not ceiling_msgs_per_s:
        return None
    return round(stompim_msgs_per_s / ceiling_msgs_per_s, 3)


async def run_chat_db(kind: str, ctx: Ctx, *, with_ceiling: bool) -> dict[str, Any]:
    if kind == "mariadb":
        why = await mariadb.reachable()
        if why:
            return not_available(why)
    db_pid = mariadb.server_pid() if kind == "mariadb" else None
    async with im_database(kind, "c") as db:
        opts = ctx.opts
        if ctx.profile:  # the node under py-spy; bench/__main__.save keeps these figures apart
            folder = PROFILES
            folder.mkdir(parents=True, exist_ok=True)
            opts = replace(opts, profile_dir=str(folder), profile_label=f"chat-{kind}")
        quiet = await wait_quiet(ctx.quiet_wait())
        log(f"== chat on stompim ({kind}){' (quick)' if ctx.quick else ''}")
        try:
            async with im_node(db, opts, batch_log=with_ceiling) as target:
                res = await run_chat(target, ctx, kind, db_pid)
        except TargetUnavailable as exc:
            return not_available(str(exc))
        res["others_cpu_pct_before"] = quiet
        res["database_version"] = await database_version(kind)
        if not with_ceiling or not res.get("available"):
            return res
        phase = res["max"].get("phase_monotonic") or [0.0, 0.0]
        batches = read_batch_log(db.batch_log, phase[0], phase[1])
        res["max"]["node_batches"] = batch_summary([n for _, _, n in batches])
        busy = sum(t1 - t0 for t0, t1, _ in batches)
        span = phase[1] - phase[0]
        # how much of the measured phase the node's writer spent inside write_batch
        res["max"]["node_write_batch_busy_pct"] = round(100 * busy / span, 1) if span else None
        log(f"== database ceiling ({kind}), same batch sizes, no node")
        try:
            res["ceiling"] = await ceiling(
                db.url,
                [(int(a), int(b)) for a, b in res["pair_ids"]],
                [n for _, _, n in batches],
                total=int(res["max"]["receipts"]),
                duration=6.0 if ctx.quick else 30.0,
                db_pid=db_pid,
            )
        except Exception as exc:
            traceback.print_exc()
            res["ceiling"] = {"error": f"{type(exc).__name__}: {exc}"}
        res["stompim_over_ceiling"] = ceiling_ratio(
            res["max"].get("stored_msgs_per_s"), res["ceiling"].get("stored_msgs_per_s")
        )
        log(f"  stompim / ceiling ({kind}): {res['stompim_over_ceiling']}")
        return res
