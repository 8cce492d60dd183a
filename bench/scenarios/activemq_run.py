"""`bench activemq`: stompim and ActiveMQ Classic side by side, STOMP over TCP, one run.

The same generator, bodies and windows as `throughput` and `fanout` (bench/scenarios/
generic.py), against stompim's TCP listener and ActiveMQ's `stomp+nio` connector
(bench/activemq.py), one target after the other in one invocation so the ratio is
measured under the same machine load. Each target first gets one short unrecorded
1->1 pass (5 s), so the JVM's JIT has compiled the hot path before the measured
one starts (its figure is kept as `warm_up` only to show the difference). Fan-out
goes to 1,000 subscribers "if it holds": a count that fails is recorded with its
error and the next target goes on.

Call order: `await run_side_by_side(ctx, targets)` -> {target: result}.
"""

from __future__ import annotations

import traceback
from typing import Any

from bench.measure import log, wait_quiet
from bench.scenarios.generic import Ctx, _fanout_one, run_throughput
from bench.targets import TargetUnavailable, start_target

TARGETS = ("stompim", "activemq")
FANOUT = (200, 1000)


async def _one_target(name: str, ctx: Ctx) -> dict[str, Any]:
    out: dict[str, Any] = {"transport": "tcp"}
    out["others_cpu_pct_before"] = await wait_quiet(0 if ctx.quick else 30)
    async with start_target(name, ctx.opts) as target:
        out["target_notes"] = [n for n in target.notes if not n.startswith("log ")]
        # an unrecorded short pass first: the JVM's JIT (and stompim's caches) warm up
        warm = Ctx(quick=True, transport="tcp", opts=ctx.opts)
        out["warm_up"] = {"msgs_per_s": (await _guarded(run_throughput(target, warm))).get(
            "msgs_per_s")}
        out["throughput"] = await _guarded(run_throughput(target, ctx))
        fan: dict[str, Any] = {}
        for n in FANOUT:
            fan[str(n)] = await _guarded(_fanout_one(target, ctx, n))
        out["fanout"] = {"subscribers": fan}
    return out


async def _guarded(coro: Any) -> dict[str, Any]:
    """A phase's figures, or its error: one failing phase does not lose the others."""
    try:
        res: dict[str, Any] = await coro
        return res
    except Exception as exc:
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


async def run_side_by_side(ctx: Ctx, targets: tuple[str, ...] = TARGETS) -> dict[str, dict]:
    """Each target started, measured and stopped in turn; TCP transport for all."""
    tcp = Ctx(quick=ctx.quick, transport="tcp", opts=ctx.opts, profile=ctx.profile)
    results: dict[str, dict] = {}
    for name in targets:
        log(f"== activemq side by side: {name} (STOMP over TCP){' (quick)' if ctx.quick else ''}")
        try:
            results[name] = await _one_target(name, tcp)
        except TargetUnavailable as exc:
            log(f"  {name} unavailable: {exc}")
            results[name] = {"available": False, "reason": str(exc)}
        except Exception as exc:
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def ratios(results: dict[str, dict]) -> dict[str, float | None]:
    """stompim / ActiveMQ for 1->1 msg/s and each fan-out's deliveries/s."""

    def fig(target: str, *path: str) -> float | None:
        d: Any = results.get(target)
        for k in path:
            d = d.get(k) if isinstance(d, dict) else None
        return float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else None

    out: dict[str, float | None] = {}
    pairs = {"throughput": ("throughput", "msgs_per_s")}
    for n in FANOUT:
        pairs[f"fanout_{n}"] = ("fanout", "subscribers", str(n), "deliveries_per_s")
    for key, path in pairs.items():
        s, a = fig("stompim", *path), fig("activemq", *path)
        out[key] = round(s / a, 2) if s is not None and a else None
    return out


__all__ = ["TARGETS", "ratios", "run_side_by_side"]
