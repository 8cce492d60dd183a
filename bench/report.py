"""bench/results/README.md and the PNG plots, built from the JSON files in bench/results/.

One table holds every figure (bench/report_table.Row): stompim's value, what it is
compared with, the target, pass or miss and by how much, the CPU of generator, broker and
others during its run, and the file it came from. The rows come from the builders below
(issue 6's generic figures here; bench/report_scale.py: idle sessions, the large group,
workers, the 4-node capacity check, the cross-node queue; bench/report_anchors.py:
ActiveMQ, Synapse, persisted chat and the database ceilings; bench/report_misc.py: REST
port, search, timeline, metrics overhead, hostile floods). Sections under the table give
the run details; bench/report_plots.py draws the PNGs.

Every builder tolerates a missing or partial file (the lead regenerates the report after
merging other branches' results): `python -m bench report` only reads JSON, so it takes a
second or two, most of it matplotlib.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.report_table import Row, cpu, dig, fmt, margin, num, ratio, run_result, why

TARGETS = ("stompim", "rabbitmq", "raw")
NAMES = {"rabbitmq": "RabbitMQ", "raw": "raw"}


def _load(results: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(results.glob("*.json")):
        if p.name == "codec.json":
            continue
        try:
            d = json.loads(p.read_text())
        except (ValueError, OSError):
            continue
        if isinstance(d, dict):
            out[p.stem] = d
    return out


def _vals(data: dict, scenario: str, path: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in TARGETS:
        r = run_result(data, scenario, t)
        out[t] = why(r) or dig(r, *path)
    return out


def _others(v: dict[str, Any]) -> tuple[str, str]:
    """('RabbitMQ 21,893; raw 65,749', '3.54x RabbitMQ, 1.18x raw')."""
    other = "; ".join(f"{NAMES[t]} {fmt(v.get(t))}" for t in ("rabbitmq", "raw")
                      if v.get(t) is not None)
    rs = [f"{ratio(v['stompim'], v[t]):.2f}x {NAMES[t]}" for t in ("rabbitmq", "raw")
          if ratio(v.get("stompim"), v.get(t)) is not None]
    return other, ", ".join(rs)


def generic_rows(data: dict) -> list[Row]:
    """Issue 6: stompim beside RabbitMQ Web-STOMP and the raw forwarding ceiling."""
    rows: list[Row] = []
    src = "throughput.json"
    v = _vals(data, "throughput", ("msgs_per_s",))
    other, rs = _others(v)
    s, r, w = v["stompim"], v["rabbitmq"], v["raw"]
    res = "not measured"
    if num(s) and num(r) and num(w):
        tight = min(s / (1.5 * r), s / (0.5 * w))  # the nearer of the two targets
        res = margin(tight, 1.0).replace("vs 1", "vs the nearer target")
    rows.append(Row("1->1 throughput, msg/s", s, other, rs, ">= 1.5x RabbitMQ and >= 0.5x raw",
                    res, cpu(run_result(data, "throughput", "stompim")), src))
    if "throughput-tcp" in data:
        v = _vals(data, "throughput-tcp", ("msgs_per_s",))
        other, rs = _others(v)
        rows.append(Row("1->1 throughput over STOMP/TCP, msg/s", v["stompim"], other, rs,
                        cpu=cpu(run_result(data, "throughput-tcp", "stompim")),
                        source="throughput-tcp.json"))
    for rate in ("1000", "2000", "5000"):
        for pct in ("p50_ms", "p99_ms", "p999_ms", "max_ms"):
            if pct not in ("p50_ms", "p99_ms") and rate != "2000":
                continue
            v = _vals(data, "latency", ("rates", rate, pct))
            other, rs = _others(v)
            target = res = ""
            if pct == "p99_ms" and rate == "2000":
                target = "<= RabbitMQ"
                res = margin(v["stompim"], v["rabbitmq"], higher_is_better=False) \
                    if num(v["rabbitmq"]) else "not measured"
            m = dig(run_result(data, "latency", "stompim"), "rates", rate)
            rows.append(Row(f"latency @{rate}/s {pct[:-3]}, ms", v["stompim"], other, rs,
                            target, res, cpu(m), "latency.json"))
    for n in ("200", "1000"):
        v = _vals(data, "fanout", ("subscribers", n, "deliveries_per_s"))
        other, rs = _others(v)
        target = res = ""
        if n == "200":
            target = ">= 2x RabbitMQ"
            res = margin(ratio(v["stompim"], v["rabbitmq"]), 2.0)
        m = dig(run_result(data, "fanout", "stompim"), "subscribers", n)
        rows.append(Row(f"fan-out 1->{n}, deliveries/s", v["stompim"], other, rs, target, res,
                        cpu(m), "fanout.json"))
    return rows


def im_rows(data: dict) -> list[Row]:
    """The login storm and the codec (issue 6 and 17)."""
    r = run_result(data, "loginstorm", "stompim")
    v = why(r) or dig(r, "p99_ratio")
    rows = [Row("login storm 50/s: chat receipt p99 storm / quiet", v, target="<= 2x",
                result=margin(v, 2.0, higher_is_better=False),
                cpu=cpu(dig(r, "storm")), source="loginstorm.json")]
    c = run_result(data, "codec_run", "local")
    cv = why(c) or dig(c, "parse_ratio_small")
    rows.append(Row("codec parse, x stomp.py parse_frame (small frames)", cv, "stomp.py",
                    target=">= 4x", result=margin(cv, 4.0), source="codec_run.json"))
    return rows


def all_rows(data: dict) -> list[tuple[str, list[Row]]]:
    from bench.report_anchors import anchor_rows
    from bench.report_misc import misc_rows
    from bench.report_scale import cluster_rows, group_rows, idle_rows, workers_rows

    return [
        ("Brokers side by side (issue 6)", generic_rows(data)),
        ("Scale (issue 17)", idle_rows(data) + group_rows(data) + workers_rows(data)),
        ("Anchors and persisted chat (issue 17)", anchor_rows(data)),
        ("Cluster: 4-node capacity check, cross-node queue (issue 17)", cluster_rows(data)),
        ("Other figures", im_rows(data) + misc_rows(data)),
    ]


def table_lines(sections: list[tuple[str, list[Row]]]) -> list[str]:
    lines = [
        "| figure | stompim | compared with | ratio | target | result "
        "| CPU % of a core during the run | from |",
        "| --- | ---: | --- | --- | --- | --- | --- | --- |",
    ]
    for title, rows in sections:
        lines.append(f"| **{title}** | | | | | | | |")
        for r in rows:
            lines.append(
                f"| {r.figure} | {fmt(r.value)} | {r.other} | {r.ratio} | {r.target} "
                f"| {r.result} | {r.cpu} | {r.source} |")
    return lines


def _count(sections: list[tuple[str, list[Row]]]) -> str:
    res = [r.result for _, rows in sections for r in rows]
    p = sum(1 for x in res if x.startswith("**pass**"))
    m = sum(1 for x in res if x.startswith("**miss**"))
    return f"{p} figures pass their target, {m} miss it"


def _cpu_rows(data: dict) -> list[str]:
    out = []
    for scen in ("throughput", "throughput-tcp", "latency", "fanout", "idle", "loginstorm",
                 "group"):
        for t in TARGETS:
            r = run_result(data, scen, t)
            if not r or why(r):
                continue
            for label, m in _cpu_parts(r):
                out.append(
                    f"| {scen} {label} | {t} | {fmt(m.get('generator_cpu_pct'))} | "
                    f"{fmt(m.get('broker_cpu_pct'))} | {fmt(m.get('others_cpu_pct'))} | "
                    f"{fmt(m.get('broker_rss_mb'))} |")
    return out


def _cpu_parts(r: dict) -> list[tuple[str, dict]]:
    if "generator_cpu_pct" in r:
        return [("", r)]
    parts = []
    for key in ("rates", "subscribers"):
        for k, m in (r.get(key) or {}).items():
            if isinstance(m, dict):
                parts.append((f"{key[:-1]} {k}", m))
    for key in ("max", "at_2000", "quiet", "storm", "small_10", "large"):
        if isinstance(r.get(key), dict) and "generator_cpu_pct" in r[key]:
            parts.append((key, r[key]))
    return parts


def _section(title: str, make: Any, data: dict) -> list[str]:
    """A details section; a builder that trips on an unexpected file says so instead of
    stopping the report."""
    try:
        return list(make(data))
    except Exception as exc:  # the report must still be written
        return [f"## {title}", "", f"(could not be built: {type(exc).__name__}: {exc})", ""]


def write_report(results: Path) -> None:
    from bench.report_anchors import anchor_details
    from bench.report_plots import make_plots
    from bench.report_scale import cluster_details, scale_notes, workers_details

    data = _load(results)
    mach = next((d.get("machine") for d in data.values()
                 if isinstance(d.get("machine"), dict)), {}) or {}
    sections = all_rows(data)
    lines = [
        "# stompim benchmark results",
        "",
        "Generated by `bench/report.py` from the JSON files in this directory; regenerate "
        "with `python -m bench report` (never edit by hand). Each figure names the file it "
        "came from, and that file names the command that made it.",
        "",
        f"Machine: {mach.get('cpu', '?')}, {mach.get('cores', '?')} cores, "
        f"{mach.get('ram_gb', '?')} GB RAM, Python {mach.get('python', '?')}. Generator, "
        "broker, databases and other people's jobs share the cores: the CPU column gives, "
        "for the run behind each figure, the generator's, the broker's (every process of "
        "the node), the database's where it is a server, and everything else's, in % of one "
        "core.",
        "",
        "Targets: **stompim** (`python -m stompim serve`, started by the generator), "
        "**RabbitMQ** 3.10 Web-STOMP (the system service), **raw** = `bench/raw_server.py` "
        "(websockets + uvloop forwarding without STOMP parsing: the ceiling), ActiveMQ "
        "Classic 5.17 and Synapse (see the anchors section). Same generator (picows + "
        "uvloop), WebSocket transport unless noted. "
        + _count(sections) + ".",
        "",
        *table_lines(sections),
        "",
    ]
    lines += _section("Scale runs", scale_notes, data)
    lines += _section("Workers", workers_details, data)
    lines += _section("4-node capacity check", cluster_details, data)
    lines += [
        "## CPU during each run (issue 6 scenarios)",
        "",
        "| run | target | generator CPU % | broker CPU % | others CPU % | broker RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *_cpu_rows(data),
        "",
    ]
    lines += _section("Anchors", anchor_details, data)
    rq = run_result(data, "throughput", "rabbitmq") or run_result(data, "idle", "rabbitmq") or {}
    if rq.get("rabbitmq_setup"):
        lines += ["## RabbitMQ setup done by the generator", ""]
        lines += [f"- {n}" for n in rq["rabbitmq_setup"]] + [""]
    try:
        plots = make_plots(results, data)
    except Exception as exc:
        plots = []
        lines += [f"(plots could not be drawn: {type(exc).__name__}: {exc})", ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    if (results / "profiles" / "summary.md").exists():
        lines += ["## Profile of stompim (py-spy)", "",
                  "See [profiles/summary.md](profiles/summary.md).", ""]
    (results / "README.md").write_text("\n".join(lines) + "\n")
