"""STOMP on the REST port (issue 12) beside the WebSocket fast path on its own port.

One stompim node (started like every bench target), the same generator and the same
two scenarios of bench/scenarios/generic.py on two URLs of that node:

* `ws://127.0.0.1:<ws_port>/ws`: the fast path (websockets, stompim.broker.ws_fastpath);
* `ws://127.0.0.1:<http_port>/ws`: aiohttp on the REST port (stompim.broker.http_ws),
  what a Spring front end using one origin connects to.

Figures: 1 -> 1 throughput (100-byte bodies, 1,000 in flight) and the latency of the
same pair paced at 2,000 msg/s (p50/p99/p99.9/max).  Written to
bench/results/rest-port.json and rest-port.md.

    flock /work/.bench.lock .venv/bin/python -m bench.rest_port [--quick]
    .venv/bin/python -m bench.rest_port --report     # rewrite the .md from the .json
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path
from typing import Any

from bench.scenarios.generic import Ctx, run_latency, run_throughput
from bench.targets import Options, Target, start_stompim

RESULTS = Path(__file__).resolve().parent / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _on(target: Target, url: str) -> Target:
    assert target.ws is not None
    return dataclasses.replace(target, ws=dataclasses.replace(target.ws, url=url))


async def run(quick: bool) -> dict[str, Any]:
    opts = Options(ws_port=free_port(), tcp_port=free_port(), http_port=free_port())
    ctx = Ctx(quick=quick, transport="ws", opts=opts)
    out: dict[str, Any] = {}
    async with start_stompim(opts) as target:
        urls = {
            "fast path (ws_port)": f"ws://127.0.0.1:{opts.ws_port}/ws",
            "REST port (aiohttp)": f"ws://127.0.0.1:{opts.http_port}/ws",
        }
        for name, url in urls.items():
            on = _on(target, url)
            out[name] = {
                "url": url,
                "throughput": await run_throughput(on, ctx),
                "latency": await run_latency(on, ctx, rates=(2000,)),
            }
    return out


def markdown(result: dict[str, Any], command: str, quick: bool, when: str,
             tree: str = "") -> str:
    lines = [
        "# STOMP on the REST port vs the WebSocket fast path (issue 12)",
        "",
        f"Command: `{command}` ({'quick: 5 s phases' if quick else '30 s phases'}), "
        f"{when}{f'; tree: {tree}' if tree else ''}. One node, one generator "
        "(bench/scenarios/generic.py), 100-byte bodies; "
        "2 cores shared with other work.",
        "",
        "Broker CPU per message (the broker's CPU time over the messages delivered) is the "
        "figure least moved by other load on the machine; 'others' is the CPU other "
        "processes took meanwhile (% of one core).",
        "",
        "| endpoint | 1->1 msg/s | broker CPU % | broker µs/msg | others CPU % "
        "| @2000/s p50 ms | p99 ms | p99.9 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, run_ in result.items():
        tput = run_["throughput"]
        lat = run_["latency"]["rates"]["2000"]
        rate, cpu = tput["msgs_per_s"], tput.get("broker_cpu_pct") or 0.0
        per_msg = f"{cpu * 1e4 / rate:.1f}" if rate else "—"
        lines.append(
            f"| {name} | {rate:,} | {cpu} | {per_msg} | {tput.get('others_cpu_pct')} | "
            f"{lat.get('p50_ms')} | {lat.get('p99_ms')} | {lat.get('p999_ms')} | "
            f"{lat.get('max_ms')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite rest-port.md from rest-port.json")
    args = parser.parse_args(argv)
    path = RESULTS / "rest-port.json"
    if args.report:
        data = json.loads(path.read_text())
    else:
        result = asyncio.run(run(args.quick))
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        data = {
            "command": "python -m bench.rest_port " + " ".join(shlex.quote(a) for a in argv),
            "quick": args.quick, "result": result,
            "when": f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
                    f"at the end {load}",
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / "rest-port.md").write_text(
        markdown(data["result"], data["command"].strip(), data["quick"], data.get("when", ""),
                 data.get("tree", "")))
    print((RESULTS / "rest-port.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
