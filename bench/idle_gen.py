"""One generator process of a split idle run (bench.scenarios.idle_split).

Why a process of its own: every session costs the generator one descriptor, and a
process cannot hold more than its open-file hard limit (20,000 on the bench machine,
not raisable there even as root). A split run starts several of these, each holding
its share of the sessions from loopback source addresses of its own, under its limit.

It speaks JSON lines on stdout (one object per line, `event` names it) and takes one
word per line on stdin; progress goes to stderr. Call order, driven by the parent:
  1. start: raises its soft open-file limit to the hard one, prints `ready` (limits);
  2. `open`: opens its sessions (heart-beats as soon as each is CONNECTED, the same
     schedule as bench.scenarios.idle), prints `connected` (counts, seconds, retries,
     failures, its CPU and RSS);
  3. `check`: prints `checked` (alive, heard from the server within one heart-beat
     interval and within the looser margin, beats sent and received, CPU and RSS);
  4. `close` (or end of stdin): stops the beats, closes every session, prints
     `closed` and exits 0.

Run: `python -m bench.idle_gen --endpoint JSON --count N --sources A,B --concurrency C`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Any

import psutil

from bench.limits import raise_own_limit
from bench.measure import Progress
from bench.scenarios.idle import HEARTBEAT, HeartBeats, Opened, open_sessions
from bench.transport import Endpoint, close_all, open_stomp
from bench.wire import StompConn, negotiated_heartbeat

SWEEP_SLACK_S = 1.0
"""The node sends a heart-beat once it was silent for its interval less one sweep
period (at most 1 s, stompim.broker.broker); a session counts as heard within the
interval when the last bytes came no longer ago than interval + this slack."""


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def liveness(conns: list[StompConn], hb_ms: tuple[int, int], now: float) -> dict[str, Any]:
    """Alive sessions, and those heard from within one server interval (plus the sweep
    slack) and within 2 intervals + 5 s (the looser figure bench.scenarios.idle gives)."""
    open_ = [c for c in conns if not c.is_closed]
    out: dict[str, Any] = {"alive": len(open_), "sessions": len(conns)}
    if hb_ms[1]:
        interval = hb_ms[1] / 1000
        ages = [now - c.last_rx for c in open_]
        out["heard_within_interval"] = sum(1 for a in ages if a <= interval + SWEEP_SLACK_S)
        out["heard_within_margin"] = sum(1 for a in ages if a <= 2 * interval + 5)
        out["oldest_rx_age_s"] = round(max(ages), 2) if ages else None
    else:
        out["heard_within_interval"] = out["heard_within_margin"] = None
    out["never_heard_a_server_heartbeat"] = sum(1 for c in conns if c.heartbeats == 0)
    out["server_heartbeats_received"] = sum(c.heartbeats for c in conns)
    return out


async def read_command() -> str:
    line = await asyncio.to_thread(sys.stdin.readline)
    return line.strip() or "close"


async def run(args: argparse.Namespace) -> int:
    before, after = raise_own_limit()
    me = psutil.Process()
    emit("ready", limit=[after.soft, after.hard], limit_at_start=[before.soft, before.hard],
         rss=me.memory_info().rss, pid=me.pid)
    if await read_command() != "open":
        emit("closed")
        return 0
    ep = Endpoint(**json.loads(args.endpoint))
    sources = args.sources.split(",")
    cpu0 = cpu_s()
    rss0 = me.memory_info().rss
    t0 = time.perf_counter()
    conns: list[StompConn] = []
    opened = Opened()
    stop = asyncio.Event()
    beat_task: asyncio.Future[None] | None = None
    try:
        probe = await open_stomp(ep, HEARTBEAT, source=sources[0], lean=True)
        conns.append(probe)
        hb = negotiated_heartbeat(probe.connected_frame, HEARTBEAT)
        beats = HeartBeats(hb[0] / 1000)
        beats.add(probe)
        beat_task = asyncio.ensure_future(beats.run(stop))
        prog = Progress(f"generator {args.index}: open {args.count}", args.count, every=5.0)
        prog.add(1)
        opened = await open_sessions(
            ep, args.count - 1, sources, beats.add, deadline_s=args.deadline,
            progress=prog, first=1, concurrency=args.concurrency,
        )
        prog.finish()
        conns += opened.conns
        emit("connected", sessions=len(conns), seconds=round(time.perf_counter() - t0, 3),
             retries=opened.retries, failures=opened.failures,
             first_failures=opened.first_failures, heartbeat_negotiated_ms=list(hb),
             cpu_s=round(cpu_s() - cpu0, 3), rss=me.memory_info().rss, rss_before=rss0)
        command = await read_command()
        if command == "check":
            emit("checked", **liveness(conns, hb, time.monotonic()),
                 client_heartbeats_sent=beats.sent, cpu_s=round(cpu_s() - cpu0, 3),
                 rss=me.memory_info().rss)
            command = await read_command()
    finally:
        stop.set()
        if beat_task is not None:
            await asyncio.gather(beat_task, return_exceptions=True)
        close_all(conns)
        await asyncio.sleep(1.0)
    emit("closed", sessions=len(conns))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.idle_gen", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True, help="JSON of a bench.transport.Endpoint")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--sources", required=True, help="comma list of loopback source addresses")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--deadline", type=float, default=300.0, help="seconds to open them, at most")
    p.add_argument("--index", type=int, default=0, help="this generator's number (for logs)")
    args = p.parse_args(argv)
    import uvloop

    try:
        return uvloop.run(run(args))
    except Exception as exc:   # the parent reads why from stdout
        emit("error", message=f"{type(exc).__name__}: {exc}"[:500])
        return 1


if __name__ == "__main__":
    sys.exit(main())
