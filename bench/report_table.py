"""The row of bench/results/README.md's one table, and the helpers every row builder uses.

Each figure is one `Row`: stompim's value, what it is compared with (another broker, a
ceiling, a model's prediction), the ratio, the target, pass or miss with the margin, the
CPU of generator, broker and others during the run that produced it, and the results file
it came from. Row builders (bench/report_*.py) read the JSON loosely: a missing file, run
or key gives a row that says so ("not run", "—") instead of failing, because the report is
regenerated after other branches rewrote their files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Row:
    figure: str
    value: Any
    other: str = ""  # "RabbitMQ 21,893; raw 65,749", "predicted 5.2", ...
    ratio: str = ""
    target: str = ""
    result: str = ""
    cpu: str = ""  # "gen 65 / broker 97 / others 2"
    source: str = ""


def num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def dig(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def run_result(data: dict, scenario: str, target: str) -> dict | None:
    """`result` of one target's run in a file written by bench/__main__.save."""
    run = dig(data, scenario, "runs", target)
    if not isinstance(run, dict):
        return None
    res = run.get("result")
    return res if isinstance(res, dict) else None


def why(r: Any) -> str | None:
    if r is None:
        return "not run"
    if not isinstance(r, dict):
        return "unreadable"
    if r.get("available") is False:
        return "n/a: " + str(r.get("reason", ""))[:100].replace("\n", " ").replace("|", "/")
    if "error" in r and not num(r.get("error")):
        return "error: " + str(r["error"])[:100].replace("\n", " ").replace("|", "/")
    return None


def fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v).replace("|", "/")


def ratio(a: Any, b: Any) -> float | None:
    return round(a / b, 4) if num(a) and num(b) and b else None


def margin(value: Any, target: float, higher_is_better: bool = True) -> str:
    """'**pass** (+20% vs 10,000)' / '**miss** (-33% vs 1.5)': value against target."""
    if not num(value) or not target:
        return "not measured"
    ok = value >= target if higher_is_better else value <= target
    pct = 100 * (value - target) / target
    return f"{'**pass**' if ok else '**miss**'} ({pct:+.0f}% vs {fmt(target)})"


def cpu(m: Any, db: bool = False) -> str:
    """'gen 65 / broker 97 / others 2' from a bench.measure.Meter result."""
    if not isinstance(m, dict) or "generator_cpu_pct" not in m:
        return ""
    parts = [f"gen {fmt(m.get('generator_cpu_pct'))}", f"broker {fmt(m.get('broker_cpu_pct'))}"]
    if db or m.get("db_cpu_pct") is not None:
        parts.append(f"db {fmt(m.get('db_cpu_pct'))}")
    parts.append(f"others {fmt(m.get('others_cpu_pct'))}")
    return " / ".join(parts)


def command_of(data: dict, scenario: str, target: str | None = None) -> str:
    d = data.get(scenario)
    if not isinstance(d, dict):
        return ""
    if isinstance(d.get("command"), str):
        return d["command"]
    runs = d.get("runs") or {}
    run = runs.get(target) if target else next(iter(runs.values()), None)
    return str(run.get("command", "")) if isinstance(run, dict) else ""
