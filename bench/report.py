"""bench/results/README.md and the PNG plots, built from bench/results/<scenario>.json.

Each row is one figure: stompim's value, RabbitMQ's, the raw ceiling's, the ratios,
the target from issue 6 and pass/miss. A figure that could not be measured says why.
Generator CPU is shown beside each run so a saturated generator is visible.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report_anchors import anchor_lines

TARGETS = ("stompim", "rabbitmq", "raw")


def _load(results: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(results.glob("*.json")):
        if p.name == "codec.json":
            continue
        try:
            out[p.stem] = json.loads(p.read_text())
        except ValueError:
            continue
    return out


def _res(data: dict, scenario: str, target: str) -> dict | None:
    run = data.get(scenario, {}).get("runs", {}).get(target)
    return run["result"] if run else None


def _dig(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _ratio(a: Any, b: Any) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return f"{a / b:.2f}x"
    return "—"


def _why(r: dict | None) -> str | None:
    if r is None:
        return "not run"
    if r.get("available") is False:
        return "n/a: " + str(r.get("reason", ""))[:120].replace("\n", " ").replace("|", "/")
    if "error" in r:
        return "error: " + str(r["error"])[:120].replace("|", "/")
    return None


Row = tuple[str, dict[str, Any], str, str]


def _rows(data: dict) -> list[Row]:
    """(figure, {target: value}, target text, verdict)."""
    rows: list[Row] = []

    def vals(scenario: str, get: Callable[[dict], Any], targets: tuple[str, ...] = TARGETS) -> dict:
        out: dict[str, Any] = {}
        for t in targets:
            r = _res(data, scenario, t)
            out[t] = _why(r) or get(r)
        return out

    def num(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    v = vals("throughput", lambda r: r.get("msgs_per_s"))
    ok = num(v["stompim"]) and num(v["rabbitmq"]) and num(v["raw"]) and \
        v["stompim"] >= 1.5 * v["rabbitmq"] and v["stompim"] >= 0.5 * v["raw"]
    rows.append(("1->1 throughput, msg/s", v, ">= 1.5x RabbitMQ and >= 0.5x raw",
                 _verdict(ok, v["stompim"])))
    if "throughput-tcp" in data:
        v = vals("throughput-tcp", lambda r: r.get("msgs_per_s"))
        rows.append(("1->1 throughput over STOMP/TCP, msg/s", v, "", ""))
    for rate in ("1000", "2000", "5000"):
        for pct in ("p50_ms", "p99_ms", "p999_ms", "max_ms"):
            v = vals("latency", lambda r, rate=rate, pct=pct: _dig(r, "rates", rate, pct))
            if pct == "p99_ms" and rate == "2000":
                ok = num(v["stompim"]) and num(v["rabbitmq"]) and v["stompim"] <= v["rabbitmq"]
                rows.append(
                    (
                        f"latency @{rate}/s {pct[:-3]}, ms",
                        v,
                        "<= RabbitMQ",
                        _verdict(ok, v["stompim"]),
                    )
                )
            elif pct in ("p50_ms", "p99_ms") or rate == "2000":
                rows.append((f"latency @{rate}/s {pct[:-3]}, ms", v, "", ""))
    for n in ("200", "1000"):
        v = vals("fanout", lambda r, n=n: _dig(r, "subscribers", n, "deliveries_per_s"))
        if n == "200":
            ok = num(v["stompim"]) and num(v["rabbitmq"]) and v["stompim"] >= 2 * v["rabbitmq"]
            rows.append(
                (f"fan-out 1->{n}, deliveries/s", v, ">= 2x RabbitMQ", _verdict(ok, v["stompim"]))
            )
        else:
            rows.append((f"fan-out 1->{n}, deliveries/s", v, "", ""))
    from bench.report_scale import group_rows, idle_rows  # issue 17's rows

    rows += idle_rows(data)
    v = vals("chat", lambda r: _dig(r, "max", "stored_msgs_per_s"), ("stompim",))
    rows.append(
        (
            "private chat persisted (MariaDB), stored msg/s",
            v,
            ">= 10,000",
            _verdict(num(v["stompim"]) and v["stompim"] >= 10000, v["stompim"]),
        )
    )
    v = vals("chat", lambda r: _dig(r, "at_2000", "receipt_latency", "p99_ms"), ("stompim",))
    rows.append(
        (
            "private chat @2000/s, receipt p99, ms",
            v,
            "<= 20 ms",
            _verdict(num(v["stompim"]) and v["stompim"] <= 20, v["stompim"]),
        )
    )
    v = vals("chat", lambda r: _dig(r, "at_2000", "receipt_latency", "p50_ms"), ("stompim",))
    rows.append(("private chat @2000/s, receipt p50, ms", v, "", ""))
    rows += group_rows(data)
    v = vals("loginstorm", lambda r: r.get("p99_ratio"), ("stompim",))
    rows.append(
        (
            "login storm 50/s: chat receipt p99 storm / quiet",
            v,
            "<= 2x",
            _verdict(num(v["stompim"]) and v["stompim"] <= 2, v["stompim"]),
        )
    )
    c = _res(data, "codec_run", "local")
    cv = _why(c) or (c or {}).get("parse_ratio_small")
    rows.append(
        (
            "codec parse, x stomp.py parse_frame (small frames)",
            {"stompim": cv},
            ">= 4x",
            _verdict(isinstance(cv, (int, float)) and cv >= 4, cv),
        )
    )
    return rows


def _verdict(ok: bool, value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "not measured"
    return "**pass**" if ok else "**miss**"


def _cpu_rows(data: dict) -> list[str]:
    out = []
    for scen in (
        "throughput",
        "throughput-tcp",
        "latency",
        "fanout",
        "idle",
        "chat",
        "loginstorm",
        "group",
    ):
        for t in TARGETS:
            r = _res(data, scen, t)
            if not r or _why(r):
                continue
            parts = _cpu_parts(r)
            for label, m in parts:
                out.append(
                    f"| {scen} {label} | {t} | {_fmt(m.get('generator_cpu_pct'))} | "
                    f"{_fmt(m.get('broker_cpu_pct'))} | {_fmt(m.get('others_cpu_pct'))} | "
                    f"{_fmt(m.get('broker_rss_mb'))} |"
                )
    return out


def _cpu_parts(r: dict) -> list[tuple[str, dict]]:
    if "generator_cpu_pct" in r:
        return [("", r)]
    parts = []
    for key in ("rates", "subscribers"):
        for k, m in (r.get(key) or {}).items():
            parts.append((f"{key[:-1]} {k}", m))
    for key in ("max", "at_2000", "quiet", "storm", "small_10", "large"):
        if isinstance(r.get(key), dict) and "generator_cpu_pct" in r[key]:
            parts.append((key, r[key]))
    return parts


def write_report(results: Path) -> None:
    data = _load(results)
    mach = next((d.get("machine") for d in data.values() if d.get("machine")), {}) or {}
    cmds = sorted(
        {run.get("command", "") for d in data.values() for run in d.get("runs", {}).values()}
    )
    quick = any(run.get("quick") for d in data.values() for run in d.get("runs", {}).values())
    lines = [
        "# stompim benchmark results (issue 6)",
        "",
        "Generated by `bench/report.py` from the JSON files in this directory "
        "(one file per scenario, one entry per target). Regenerate with `python -m bench report`.",
        "",
        f"Machine: {mach.get('cpu', '?')}, {mach.get('cores', '?')} cores, "
        f"{mach.get('ram_gb', '?')} GB RAM, "
        f"Python {mach.get('python', '?')}, {mach.get('os', '')}. Generator and broker share the "
        "cores; the CPU table below shows both, plus CPU taken by other processes during each run.",
        "",
        "Targets: **stompim** (`python -m stompim serve`, started by the generator), "
        "**RabbitMQ** 3.10 Web-STOMP (the system service, guest/guest), "
        "**raw** = `bench/raw_server.py` (websockets + "
        "uvloop forwarding without STOMP parsing: the ceiling). Same generator (picows + uvloop, "
        "100-byte bodies), WebSocket transport unless noted.",
        "",
        "Commands run: "
        + ", ".join(f"`{c}`" for c in cmds if c)
        + (" (quick mode: short runs)" if quick else ""),
        "",
        "| figure | stompim | RabbitMQ | raw ceiling | stompim / RabbitMQ | stompim / raw"
        " | target | result |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for fig, v, target, verdict in _rows(data):
        s, r, w = v.get("stompim"), v.get("rabbitmq"), v.get("raw")
        lines.append(
            f"| {fig} | {_fmt(s)} | {_fmt(r)} | {_fmt(w)} | {_ratio(s, r)} | {_ratio(s, w)} "
            f"| {target} | {verdict} |"
        )
    from bench.report_scale import scale_notes  # issue 17's notes

    lines += ["", *scale_notes(data)]
    lines += [
        "## CPU during each run",
        "",
        "% of one core over the measured interval (the machine has "
        f"{mach.get('cores', '?')}). A generator near 100% means the figure is the "
        "generator's limit, not the broker's; 'others' is every other process on the machine.",
        "",
        "| run | target | generator CPU % | broker CPU % | others CPU % | broker RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *_cpu_rows(data),
        "",
    ]
    lines += anchor_lines(data)
    rq = _res(data, "throughput", "rabbitmq") or _res(data, "idle", "rabbitmq") or {}
    if rq.get("rabbitmq_setup"):
        lines += ["## RabbitMQ setup done by the generator", ""]
        lines += [f"- {n}" for n in rq["rabbitmq_setup"]] + [""]
    plots = make_plots(results, data)
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    prof = results / "profiles" / "summary.md"
    if prof.exists():
        lines += [
            "## Profile of stompim (py-spy)",
            "",
            "See [profiles/summary.md](profiles/summary.md).",
            "",
        ]
    (results / "README.md").write_text("\n".join(lines) + "\n")


def make_plots(results: Path, data: dict) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    names, tput, fan200 = [], [], []
    for t in TARGETS:
        a = _res(data, "throughput", t) or {}
        b = _dig(_res(data, "fanout", t), "subscribers", "200") or {}
        names.append(t)
        tput.append(a.get("msgs_per_s") or 0)
        fan200.append(b.get("deliveries_per_s") or 0)
    if any(tput) or any(fan200):
        fig, ax = plt.subplots(figsize=(7, 4))
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], tput, 0.4, label="1->1 msg/s")
        ax.bar([i + 0.2 for i in x], fan200, 0.4, label="fan-out x200 deliveries/s")
        ax.set_xticks(list(x), names)
        ax.set_ylabel("per second")
        ax.set_title("Throughput (WebSocket, 100-byte bodies)")
        ax.legend()
        fig.tight_layout()
        p = results / "throughput.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        made.append(p)
    rates = ("1000", "2000", "5000")
    pcts = ("p50_ms", "p99_ms", "p999_ms")
    series = {t: _dig(_res(data, "latency", t), "rates") for t in TARGETS}
    if any(series.values()):
        fig, axes = plt.subplots(1, len(rates), figsize=(11, 4), sharey=True)
        for ax, rate in zip(axes, rates, strict=False):
            for i, t in enumerate(TARGETS):
                vals = [_dig(series[t], rate, p) or 0 for p in pcts]
                ax.bar([j + (i - 1) * 0.27 for j in range(len(pcts))], vals, 0.27, label=t)
            ax.set_xticks(range(len(pcts)), ["p50", "p99", "p99.9"])
            ax.set_title(f"{int(rate):,} msg/s")
            ax.set_yscale("log")
        axes[0].set_ylabel("latency, ms (log)")
        axes[-1].legend()
        fig.suptitle("Publish -> deliver latency at fixed rates")
        fig.tight_layout()
        p = results / "latency.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        made.append(p)
    return made
