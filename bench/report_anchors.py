"""The anchors of bench/results/README.md (ActiveMQ, Synapse) and the database ceilings of
persisted chat, each figure beside its comparison, target and margin, with the command and
the CPU of generator, target, database and others.

Reads the same per-scenario JSON files as bench/report.py (`activemq.json`,
`synapse.json`, `chat.json`): `anchor_rows(data)` gives rows of the one table
(bench/report_table.Row), `anchor_details(data)` the Markdown under it.
"""

from __future__ import annotations

from typing import Any

from bench.report_table import Row, cpu, dig, fmt, margin, num, ratio, why

__all__ = ["anchor_details", "anchor_rows", "margin"]


def _res(data: dict, scenario: str, key: str) -> dict | None:
    r = dig(data, scenario, "runs", key, "result")
    return r if isinstance(r, dict) else None


_dig, _fmt, _num, _why = dig, fmt, num, why


def _x(v: Any) -> str:
    r = v if num(v) else None
    return f"{r:.3g}x" if r is not None else ""


def _activemq_rows(data: dict) -> list[Row]:
    s, a = _res(data, "activemq", "stompim"), _res(data, "activemq", "activemq")
    rows: list[Row] = []
    figs = [("1->1 throughput over STOMP/TCP, msg/s", ("throughput", "msgs_per_s"))]
    for n in ("200", "1000"):
        figs.append(
            (f"fan-out 1->{n} over STOMP/TCP, deliveries/s",
             ("fanout", "subscribers", n, "deliveries_per_s"))
        )
    for label, path in figs:
        sv = _why(s) or _dig(s, *path) or _dig(s, *path[:-1], "error")
        av = _why(a) or _dig(a, *path) or _dig(a, *path[:-1], "error")
        r = ratio(sv, av)
        meter = _dig(s, *path[:-1])
        rows.append(Row(label, sv, f"ActiveMQ {fmt(av)}", _x(r), ">= 1.5x ActiveMQ",
                        margin(r, 1.5), cpu(meter), "activemq.json"))
    return rows


def _chat_rows(data: dict) -> list[Row]:
    rows: list[Row] = []
    for kind, key in (("MariaDB", "stompim"), ("SQLite", "stompim-sqlite")):
        r = _res(data, "chat", key)
        why = _why(r)
        stored = why or _dig(r, "max", "stored_msgs_per_s")
        ceil = why or _dig(r, "ceiling", "stored_msgs_per_s") or _why(_dig(r, "ceiling"))
        frac = _dig(r, "stompim_over_ceiling")
        rows.append(Row(f"persisted chat ({kind}): stored msg/s vs the database's ceiling",
                        stored, f"ceiling {fmt(ceil)}", _x(frac), ">= 60% of ceiling",
                        margin(frac, 0.6), cpu(_dig(r, "max")), "chat.json"))
        if kind == "MariaDB":
            rows.append(Row(f"persisted chat ({kind}): stored msg/s", stored, "", "",
                            ">= 10,000", margin(stored, 10_000), cpu(_dig(r, "max")),
                            "chat.json"))
        for rate in ("2000", "5000"):
            p99 = why or _dig(r, f"at_{rate}", "receipt_latency", "p99_ms")
            rows.append(Row(f"persisted chat ({kind}) @{rate}/s: receipt p99, ms", p99, "", "",
                            "<= 20 ms", margin(p99, 20, higher_is_better=False),
                            cpu(_dig(r, f"at_{rate}")), "chat.json"))
    return rows


def _synapse_rows(data: dict) -> list[Row]:
    rows: list[Row] = []
    for syn_db, st_db, label in (
        ("sqlite", "sqlite", "SQLite vs SQLite"),
        ("postgresql", "mariadb", "Synapse on PostgreSQL vs stompim on MariaDB"),
    ):
        y, s = _res(data, "synapse", f"synapse-{syn_db}"), _res(data, "synapse", f"stompim-{st_db}")
        yw, sw = _why(y), _why(s)
        sv = sw or _dig(s, "stored", "stored_msgs_per_s")
        yv = yw or _dig(y, "stored", "stored_msgs_per_s")
        rows.append(Row(f"chat stored msg/s, 64 in flight ({label})", sv, f"Synapse {fmt(yv)}",
                        _x(ratio(sv, yv)), ">= 50x Synapse", margin(ratio(sv, yv), 50),
                        cpu(_dig(s, "stored")), "synapse.json"))
        for pct in ("p50_ms", "p99_ms"):
            sv = sw or _dig(s, "sequential", "receipt_latency", pct)
            yv = yw or _dig(y, "sequential", "send_latency", pct)
            rows.append(Row(f"sequential send {pct[:3]}, ms ({label})", sv, f"Synapse {fmt(yv)}",
                            _x(ratio(sv, yv)), "", "", cpu(_dig(s, "sequential")),
                            "synapse.json"))
        rates = sorted((_dig(y, "rates") or {}).keys() | (_dig(s, "rates") or {}).keys(), key=int)
        for rate in rates:
            sv = sw or _dig(s, "rates", rate, "delivery_latency", "p99_ms")
            yv = yw or _dig(y, "rates", rate, "delivery_latency", "p99_ms")
            over = _dig(y, "rates", rate, "overloaded")
            note = " (Synapse overloaded: sending stopped)" if over else ""
            verdict = (
                ("**pass**" if sv < yv else "**miss**") + f" ({_fmt(ratio(yv, sv))}x lower)"
                if _num(sv) and _num(yv) else "not measured"
            )
            rows.append(Row(f"delivery p99 @{rate} msg/s, ms ({label}){note}", sv,
                            f"Synapse {fmt(yv)}", _x(ratio(sv, yv)), "lower than Synapse",
                            verdict, cpu(_dig(s, "rates", rate)), "synapse.json"))
    return rows


def anchor_rows(data: dict) -> list[Row]:
    """ActiveMQ, persisted chat against its database ceiling, Synapse."""
    return _activemq_rows(data) + _chat_rows(data) + _synapse_rows(data)


def _cpu_lines(data: dict) -> list[str]:
    out = []
    runs: list[tuple[str, str, list[tuple[str, dict]]]] = []
    for key in ("stompim", "activemq"):
        r = _res(data, "activemq", key) or {}
        parts = [("1->1", r.get("throughput") or {})]
        parts += [(f"fan-out {n}", m) for n, m in (_dig(r, "fanout", "subscribers") or {}).items()]
        runs.append(("activemq", key, parts))
    for key in ("stompim", "stompim-sqlite"):
        r = _res(data, "chat", key) or {}
        parts = [(k, r.get(k) or {}) for k in ("max", "at_2000", "at_5000", "ceiling")]
        runs.append(("chat", key, parts))
    for key in ("synapse-sqlite", "stompim-sqlite", "synapse-postgresql", "stompim-mariadb"):
        r = _res(data, "synapse", key) or {}
        parts = [("stored", r.get("stored") or {}), ("sequential", r.get("sequential") or {})]
        parts += [(f"@{k}/s", m) for k, m in (r.get("rates") or {}).items()]
        runs.append(("synapse", key, parts))
    for scen, key, parts in runs:
        for label, m in parts:
            if "generator_cpu_pct" not in m:
                continue
            out.append(
                f"| {scen} {label} | {key} | {_fmt(m.get('generator_cpu_pct'))} | "
                f"{_fmt(m.get('broker_cpu_pct'))} | {_fmt(m.get('db_cpu_pct'))} | "
                f"{_fmt(m.get('others_cpu_pct'))} |"
            )
    return out


def _commands(data: dict) -> list[str]:
    seen = []
    for scen in ("activemq", "chat", "synapse"):
        for key, run in (_dig(data, scen, "runs") or {}).items():
            quick = ", quick" if run.get("quick") else ""
            seen.append(f"- {scen}: `{run.get('command')}` ({key}, {run.get('when')}{quick})")
    return seen


def _setup_lines(data: dict) -> list[str]:
    out = []
    notes = _dig(_res(data, "activemq", "activemq"), "target_notes") or []
    out += [f"- ActiveMQ: {n}" for n in notes]
    for key in ("synapse-sqlite", "synapse-postgresql"):
        out += [f"- {key}: {n}" for n in _dig(_res(data, "synapse", key), "notes") or []]
    for scen, key in (("chat", "stompim"), ("chat", "stompim-sqlite"),
                      ("synapse", "stompim-sqlite"), ("synapse", "stompim-mariadb")):
        v = _dig(_res(data, scen, key), "database_version")
        if v:
            out.append(f"- {scen} {key}: {v}")
    return out


def anchor_details(data: dict) -> list[str]:
    """The anchors' CPU by phase, versions and configuration, and commands (their figures
    are rows of the one table)."""
    return [
        "## Anchors and database ceilings: CPU, versions, commands",
        "",
        "`python -m bench activemq`, `python -m bench chat --ceiling`, "
        "`python -m bench synapse`: each compares in one run (one target after the other, "
        "same generator, same bodies). The database ceiling is a bare loop of the node's own "
        "`MessageRepository.write_batch` on the same database, same driver, one connection, "
        "replaying the batch sizes the node formed; Synapse on PostgreSQL is compared with "
        "stompim on MariaDB (stompim has no PostgreSQL backend). What holds the missed "
        "targets back, with profiles: [anchors.md](anchors.md).",
        "",
        "CPU, % of one core over each measured phase ('target' is stompim, ActiveMQ or "
        "Synapse; 'database' is mariadbd or PostgreSQL's server processes, blank for SQLite, "
        "which runs inside the target or the ceiling loop):",
        "",
        "| run | target | generator CPU % | target CPU % | database CPU % | others CPU % |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *_cpu_lines(data),
        "",
        "Versions and configuration:",
        "",
        *_setup_lines(data),
        "",
        "Commands:",
        "",
        *_commands(data),
        "",
    ]
