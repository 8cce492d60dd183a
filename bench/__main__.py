"""`python -m bench SCENARIO [--target ...] [--quick]` — run benchmark scenarios.

Scenarios: throughput, latency, fanout, idle (all targets); chat (stompim on SQLite
and/or MariaDB, `--db`, with the database's own ceiling under `--ceiling`); group,
loginstorm (stompim with MariaDB); activemq (stompim and ActiveMQ Classic side by
side over STOMP/TCP); synapse (Synapse and stompim's persisted chat on the same class
of database, `--db`); codec (runs bench.codec); `all` runs every one of them, then
writes bench/results/README.md and the plots; `report` only rewrites those.

The generator starts each target itself (see bench/targets.py): a fresh stompim or
raw server per scenario, RabbitMQ prepared once. Results are merged into
bench/results/<scenario>.json per target, so targets can be run one at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shlex
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import mariadb
from bench.measure import log, wait_quiet
from bench.scenarios.generic import Ctx, run_fanout, run_latency, run_throughput
from bench.sizes import add_size_arguments, size_fields
from bench.targets import Options, Target, TargetUnavailable, start_target, stompim_available

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = ("raw", "rabbitmq", "stompim")
GENERIC = ("throughput", "latency", "fanout", "idle")
IM = ("loginstorm", "group")
ANCHORS = ("activemq", "synapse")
ALL = (*GENERIC, "chat", *IM, *ANCHORS, "codec")


def machine() -> dict[str, Any]:
    import psutil

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model or platform.processor(), "cores": psutil.cpu_count(),
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "os": platform.platform()}


def save(scenario: str, target: str, result: dict, argv: list[str], quick: bool) -> None:
    if "--profile" in argv:  # profiled runs are slowed by py-spy: keep their figures out
        (RESULTS / "profiles").mkdir(parents=True, exist_ok=True)
        path = RESULTS / "profiles" / f"{scenario}-{target}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{scenario}.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("scenario", scenario)
    data["machine"] = machine()
    data.setdefault("runs", {})[target] = {
        "quick": quick, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": "python -m bench " + " ".join(shlex.quote(a) for a in argv),
        "result": result,
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


async def _generic(scenario: str, target: Target, ctx: Ctx) -> dict:
    from bench.scenarios.idle import run_idle

    runner: dict[str, Callable[[Target, Ctx], Awaitable[dict]]] = {
        "throughput": run_throughput,
        "latency": run_latency,
        "fanout": run_fanout,
        "idle": run_idle,
    }
    return await runner[scenario](target, ctx)


async def run_generic(scenario: str, name: str, ctx: Ctx, argv: list[str]) -> None:
    log(f"== {scenario} on {name}{' (quick)' if ctx.quick else ''}")
    opts = ctx.opts
    if name == "stompim" and scenario == "idle" and ctx.workers:
        from bench.scenarios.idle_split import node_options

        opts = node_options(opts, ctx.workers)
    if ctx.profile and name == "stompim" and scenario in ("throughput", "fanout"):
        opts = Options(
            **{
                **opts.__dict__,
                "profile_dir": str(RESULTS / "profiles"),
                "profile_label": f"{scenario}-{ctx.transport}",
            }
        )
        (RESULTS / "profiles").mkdir(parents=True, exist_ok=True)
    quiet = await wait_quiet(0 if ctx.quick else 60)
    try:
        async with start_target(name, opts) as target:
            if target.notes and name == "rabbitmq":
                for n in target.notes:
                    log(f"  rabbitmq: {n}")
            result = await _generic(scenario, target, ctx)
            result["transport"] = ctx.transport
            result["others_cpu_pct_before"] = quiet
            if name == "rabbitmq":
                result["rabbitmq_setup"] = target.notes
            else:
                result["target_notes"] = [n for n in target.notes if not n.startswith("log ")]
    except TargetUnavailable as exc:
        result = {"available": False, "reason": str(exc)}
        log(f"  {name} unavailable: {exc}")
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    save(scenario if ctx.transport == "ws" else f"{scenario}-tcp", name, result, argv, ctx.quick)


async def run_im(scenarios: list[str], ctx: Ctx, argv: list[str]) -> None:
    from bench.scenarios.chat import run_loginstorm
    from bench.scenarios.group import group_env, run_group, sizes

    why = await mariadb.reachable()
    if why is None:
        why = await asyncio.to_thread(stompim_available)
    if why is not None:
        for s in scenarios:
            save(s, "stompim", {"available": False, "reason": why}, argv, ctx.quick)
        log(f"  IM scenarios not available: {why}")
        return
    for group in (["loginstorm"], ["group"]):
        todo = [s for s in scenarios if s in group]
        if not todo:
            continue
        url, dbname = await mariadb.create_database("g" if group == ["group"] else "c")
        prev_userstat = await mariadb.userstat_on() if "group" in todo else None
        extra = group_env(sizes(ctx)[0]) if "group" in todo else ()
        opts = Options(
            **{
                **ctx.opts.__dict__,
                "database_url": url,
                "anonymous": False,
                "extra_env": tuple(ctx.opts.extra_env) + tuple(extra),
            }
        )
        if ctx.profile:
            (RESULTS / "profiles").mkdir(parents=True, exist_ok=True)
            opts = Options(
                **{
                    **opts.__dict__,
                    "profile_dir": str(RESULTS / "profiles"),
                    "profile_label": "-".join(todo),
                }
            )
        await wait_quiet(0 if ctx.quick else 60)
        try:
            async with start_target("stompim", opts) as target:
                for s in todo:
                    log(f"== {s} on stompim (MariaDB){' (quick)' if ctx.quick else ''}")
                    try:
                        if s == "loginstorm":
                            res = await run_loginstorm(target, ctx)
                        else:
                            res = await run_group(target, ctx, database=dbname)
                    except Exception as exc:
                        traceback.print_exc()
                        res = {"error": f"{type(exc).__name__}: {exc}"}
                    save(s, "stompim", res, argv, ctx.quick)
        except TargetUnavailable as exc:
            for s in todo:
                save(s, "stompim", {"available": False, "reason": str(exc)}, argv, ctx.quick)
            log(f"  stompim unavailable: {exc}")
        finally:
            if prev_userstat is not None:
                await mariadb.userstat_restore(prev_userstat)
            await mariadb.drop_database(dbname)


async def run_chat_scenario(ctx: Ctx, dbs: list[str], ceiling: bool, argv: list[str]) -> None:
    from bench.scenarios.chat_db import result_key, run_chat_db

    for kind in dbs:
        try:
            res = await run_chat_db(kind, ctx, with_ceiling=ceiling)
        except Exception as exc:
            traceback.print_exc()
            res = {"error": f"{type(exc).__name__}: {exc}"}
        save("chat", result_key(kind), res, argv, ctx.quick)


async def run_anchor(scenario: str, ctx: Ctx, dbs: list[str], argv: list[str]) -> None:
    if scenario == "activemq":
        from bench.scenarios.activemq_run import run_side_by_side

        for name, res in (await run_side_by_side(ctx)).items():
            save("activemq", name, res, argv, ctx.quick)
        return
    from bench.scenarios.synapse_run import run_synapse_side_by_side

    for kind in dbs:
        for key, res in (await run_synapse_side_by_side(kind, ctx)).items():
            save("synapse", key, res, argv, ctx.quick)


def databases(scenario: str, choice: str) -> list[str]:
    """`--db` for chat (sqlite, mariadb) and synapse (sqlite, postgresql); both by default."""
    kinds = ["sqlite", "postgresql"] if scenario == "synapse" else ["sqlite", "mariadb"]
    if choice == "both":
        return kinds
    if choice not in kinds:
        raise SystemExit(f"--db {choice}: {scenario} takes one of {', '.join(kinds)} or both")
    return [choice]


async def main_async(args: argparse.Namespace, argv: list[str]) -> None:
    scenarios = list(ALL) if args.scenario == "all" else [args.scenario]
    # checked before anything runs: `all --db mariadb` must not fail at synapse, hours in
    dbs = {s: databases(s, args.db) for s in scenarios if s in ("chat", "synapse")}
    targets = [t.strip() for t in args.target.split(",")] if args.target else list(TARGETS)
    ctx = Ctx(
        quick=args.quick,
        transport=args.transport,
        opts=Options(
            ws_port=args.ws_port,
            tcp_port=args.tcp_port,
            http_port=args.http_port,
            raw_port=args.raw_port,
            setup_rabbitmq=not args.no_rabbitmq_setup,
        ),
        profile=args.profile,
        quiet_s=args.quiet_wait,
        **size_fields(args),
    )
    t0 = time.monotonic()
    for s in scenarios:
        if s in GENERIC:
            for name in targets:
                await run_generic(s, name, ctx, argv)
    if "chat" in scenarios:
        await run_chat_scenario(ctx, dbs["chat"], args.ceiling, argv)
    im = [s for s in scenarios if s in IM]
    if im and "stompim" in targets:
        await run_im(im, ctx, argv)
    for s in scenarios:
        if s in ANCHORS:
            await run_anchor(s, ctx, dbs.get(s, []), argv)
    if "codec" in scenarios:
        from bench.scenarios.codec_run import run_codec

        log("== codec")
        save("codec_run", "local", await run_codec(ctx), argv, ctx.quick)
    log(f"done in {time.monotonic() - t0:.0f}s")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["cluster4"]:  # its own options (bench/cluster4.py)
        from bench.cluster4 import main as cluster4

        return cluster4(argv[1:])
    if argv[:1] == ["workers"]:  # its own options (bench/workers.py)
        from bench.workers import main as workers

        return workers(argv[1:])
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", choices=[*ALL, "all", "report", "profile-summary"])
    p.add_argument("--target", help="comma list of stompim,rabbitmq,raw (default: all three)")
    p.add_argument("--quick", action="store_true", help="short runs (whole suite < 5 min)")
    p.add_argument(
        "--transport",
        choices=("ws", "tcp"),
        default="ws",
        help="STOMP over WebSocket (default) or plain TCP (stompim, rabbitmq)",
    )
    p.add_argument(
        "--profile", action="store_true", help="run stompim under py-spy for throughput and fanout"
    )
    p.add_argument("--ws-port", type=int, default=18081)
    p.add_argument("--tcp-port", type=int, default=16613)
    p.add_argument("--http-port", type=int, default=18080)
    p.add_argument("--raw-port", type=int, default=18090)
    p.add_argument(
        "--no-rabbitmq-setup",
        action="store_true",
        help="do not touch the RabbitMQ service (it must already serve Web-STOMP)",
    )
    p.add_argument(
        "--db",
        default="both",
        help="chat: sqlite, mariadb or both; synapse: sqlite, postgresql or both (default both)",
    )
    p.add_argument(
        "--ceiling",
        action="store_true",
        help="chat: also measure the database's own ceiling (same batches, no node)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="chat, activemq, synapse: seconds to wait for other jobs to go quiet (default 60)",
    )
    p.add_argument("--no-report", action="store_true", help="do not rewrite README.md and plots")
    add_size_arguments(p)
    args = p.parse_args(argv)
    if args.scenario == "profile-summary":
        from bench.profile import summarize_all

        print(summarize_all(RESULTS / "profiles"))
        return 0
    if args.scenario != "report":
        import uvloop

        uvloop.run(main_async(args, argv))
    if args.profile or args.scenario == "profile-summary":
        from bench.profile import summarize_all

        summarize_all(RESULTS / "profiles")
    if not args.no_report and not args.profile:
        from bench.report import write_report

        write_report(RESULTS)
        log(f"wrote {RESULTS / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
