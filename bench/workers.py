"""`python -m bench workers`: 1->1, fan-out and persisted chat with 1 and 2 workers, in one run.

Issue 17 asks for `stompim serve --workers N` to be recorded with 1 and 2 workers. Each
configuration is a fresh node started by the generator (bench/targets.py) on free loopback
ports: `workers=1` is the default single process without Redis (what one node runs today),
`workers=2` is two processes sharing the ports (SO_REUSEPORT) joined through Redis (a
channel prefix of this run's own), as `serve --workers 2` requires. The figures are the
existing scenarios' (bench/scenarios/generic.py throughput and fan-out to 200 over
WebSocket; bench/scenarios/chat_db.py persisted private chat on a throw-away MariaDB
database), run in their short (`--quick`) form so the whole comparison takes a few
minutes. Broker CPU is the supervisor and its workers together (psutil, children
included).

On this 2-core machine the generator shares the cores with the workers: a second worker
can only take what the generator leaves, and the kernel spreads a client's connections
over the workers by hash, so a 1->1 pair may cross workers through Redis.

Writes bench/results/workers.json (`runs` keyed `1` and `2`).

Call order: `python -m bench workers [--full]` (under `flock /work/.bench.lock`).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import time
import traceback
from dataclasses import replace
from typing import Any

from bench.cluster4 import REDIS_URL, free_port
from bench.measure import log
from bench.scenarios.generic import Ctx, run_fanout, run_throughput
from bench.targets import Options, TargetUnavailable, start_target

WORKERS = (1, 2)


def options(workers: int) -> Options:
    env: tuple[tuple[str, str], ...] = (
        ("STOMPIM_SERVER_WORKERS", str(workers)),
        ("STOMPIM_AUTH_JWT_SECRET", secrets.token_hex(24)),
    )
    if workers > 1:
        env += (("STOMPIM_REDIS_URL", REDIS_URL),
                ("STOMPIM_REDIS_CHANNEL_PREFIX", f"wk{os.getpid()}w{workers}"))
    return Options(ws_port=free_port(), tcp_port=free_port(), http_port=free_port(),
                   extra_env=env)


async def one(workers: int, quick: bool) -> dict[str, Any]:
    from bench.scenarios.chat_db import run_chat_db

    opts = options(workers)
    ctx = Ctx(quick=quick, opts=opts, quiet_s=0)
    out: dict[str, Any] = {"workers": workers, "redis": workers > 1,
                           "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    log(f"== {workers} worker(s): throughput and fan-out")
    try:
        async with start_target("stompim", opts) as target:
            out["throughput"] = await run_throughput(target, ctx)
            out["fanout"] = await run_fanout(target, ctx, counts=(200,))
    except TargetUnavailable as exc:
        out["throughput"] = out["fanout"] = {"available": False, "reason": str(exc)}
    except Exception as exc:
        traceback.print_exc()
        out["throughput"] = out["fanout"] = {"error": f"{type(exc).__name__}: {exc}"}
    log(f"== {workers} worker(s): persisted chat (MariaDB)")
    try:
        out["chat"] = await run_chat_db("mariadb", replace(ctx, opts=options(workers)),
                                        with_ceiling=False)
    except Exception as exc:
        traceback.print_exc()
        out["chat"] = {"error": f"{type(exc).__name__}: {exc}"}
    out["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main(argv: list[str]) -> int:
    import argparse

    import uvloop

    p = argparse.ArgumentParser(prog="python -m bench workers", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="full-length phases (default: quick)")
    p.add_argument("--no-report", action="store_true")
    args = p.parse_args(argv)
    from bench.__main__ import RESULTS, machine

    command = ("python -m bench workers " + " ".join(shlex.quote(a) for a in argv)).strip()
    runs = {}
    for w in WORKERS:
        runs[str(w)] = uvloop.run(one(w, quick=not args.full))
    res = {"scenario": "workers", "command": command, "quick": not args.full,
           "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), "runs": runs}
    (RESULTS / "workers.json").write_text(json.dumps(res, indent=2) + "\n")
    from bench.report_table import dig

    for w, r in runs.items():
        log(f"  {w} worker(s): 1->1 {dig(r, 'throughput', 'msgs_per_s')} msg/s, fan-out 200 "
            f"{dig(r, 'fanout', 'subscribers', '200', 'deliveries_per_s')} deliveries/s, chat "
            f"{dig(r, 'chat', 'max', 'stored_msgs_per_s')} stored msg/s")
    if not args.no_report:
        from bench.report import write_report

        write_report(RESULTS)
    return 0
