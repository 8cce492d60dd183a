"""Scenario (h): run the codec micro-benchmark `bench.codec` (owned by another helper).

It writes bench/results/codec.json itself; this wrapper runs it in a subprocess with
a time limit and lifts the parse ratio (ours / stomp.py parse_frame) for the table.
"""

from __future__ import annotations

import asyncio
import json
import sys

from bench.measure import log
from bench.scenarios.generic import Ctx
from bench.targets import PYTHON, ROOT

CODEC = ROOT / "bench" / "codec.py"
CODEC_JSON = ROOT / "bench" / "results" / "codec.json"


async def run_codec(ctx: Ctx) -> dict:
    if not CODEC.exists():
        return {"available": False, "reason": "bench/codec.py is not present"}
    cmd = [PYTHON, "-m", "bench.codec"] + (["--quick"] if ctx.quick else [])
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=ROOT, stdout=sys.stderr, stderr=sys.stderr
    )
    try:
        rc = await asyncio.wait_for(proc.wait(), 600)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return {"available": False, "reason": "bench.codec did not finish within 600 s"}
    if rc != 0 or not CODEC_JSON.exists():
        return {"available": False, "reason": f"bench.codec exited with code {rc}"}
    data = json.loads(CODEC_JSON.read_text())
    ratios = data.get("ratios_ours_over_stomp_py", {})
    out: dict = {"available": True, "command": " ".join(["python", *cmd[1:]]), "ratios": ratios}
    parse = [v for body in ratios.values() for k, v in body.items() if k.startswith("parse single")]
    if parse:
        out["parse_ratio_small"] = round(
            ratios.get("small", {}).get("parse single / stomp.py", 0), 2
        )
        out["parse_ratio_min"] = round(min(parse), 2)
    log(
        f"  codec: parse ratios {out.get('parse_ratio_small')} (small), "
        f"min {out.get('parse_ratio_min')}"
    )
    return out
