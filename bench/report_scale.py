"""The scale rows of bench/results/README.md (issue 17): idle sessions on one node (50,000,
<= 20 KB of broker RSS each), the large group (O(1) database writes per message), 1 and 2
workers, the 4-node capacity check (bench/cluster4.py) and the generic queue across nodes;
and the sections under the table that say how those runs were made.

Files read loosely (other branches rewrite them): `idle.json` (one node or a supervisor and
its workers: `connections`, `alive_at_end`, `kb_per_connection`, and when present
`pss_kb_per_connection`, `workers`), `group.json`, `workers.json`, `cluster4.json`,
`queue_cluster.json` (or `queue-cluster.json`: its cross-node msg/s, else any `*msg_per_s`
figure in it).
"""

from __future__ import annotations

from typing import Any

from bench.report_table import Row, cpu, dig, fmt, margin, num, run_result, why

IDLE_TARGET_SESSIONS = 50_000
IDLE_TARGET_KB = 20.0
TARGETS = ("stompim", "rabbitmq", "raw")


def idle_rows(data: dict) -> list[Row]:
    r = run_result(data, "idle", "stompim") or {}
    w = why(run_result(data, "idle", "stompim"))
    n = r.get("connections", r.get("sessions"))
    alive = r.get("alive_at_end", r.get("alive"))
    workers = r.get("workers")
    on = f" ({workers} workers)" if num(workers) and workers > 1 else ""
    others = []
    for t in ("rabbitmq", "raw"):
        tr = run_result(data, "idle", t)
        if tr and not why(tr):
            others.append(f"{t} {fmt(tr.get('alive_at_end'))}/{fmt(tr.get('connections'))}"
                          f", {fmt(tr.get('kb_per_connection'))} KB")
    if w or not num(n):
        verdict = "not measured"
    elif alive == n and n >= IDLE_TARGET_SESSIONS:
        verdict = "**pass**"
    else:
        parts = []
        if n < IDLE_TARGET_SESSIONS:
            limit = (r.get("open_file_limits") or {}).get("stompim")
            cause = ""
            if r.get("limited_by") and limit:
                cause = f" (open-file hard limit {limit[1]:,} here)"
            parts.append(f"{fmt(n)} of {IDLE_TARGET_SESSIONS:,} held{cause}")
        parts.append(f"{fmt(alive)} of {fmt(n)} alive")
        verdict = "**miss**: " + ", ".join(parts)
    held = w or f"{fmt(alive)}/{fmt(n)}"
    kb = w or r.get("kb_per_connection")
    pss = r.get("pss_kb_per_connection")
    run_cpu = cpu(r)
    rows = [
        Row(f"idle WebSocket sessions on one node{on}, alive at the end / held", held,
            "; ".join(others), "", f"{IDLE_TARGET_SESSIONS:,}, all alive", verdict, run_cpu,
            "idle.json"),
        Row(f"idle WebSocket session, KB of broker RSS each{on}", kb, "", "",
            f"<= {IDLE_TARGET_KB:g} KB", margin(kb, IDLE_TARGET_KB, higher_is_better=False),
            run_cpu, "idle.json"),
    ]
    if pss is not None:
        rows.append(Row(f"idle WebSocket session, KB of broker PSS each{on}", pss, "", "",
                        f"<= {IDLE_TARGET_KB:g} KB",
                        margin(pss, IDLE_TARGET_KB, higher_is_better=False), run_cpu,
                        "idle.json"))
    rows += [
        Row("idle sessions: connect rate, sessions/s", w or r.get("connects_per_s"),
            cpu=cpu(r.get("connect_phase")), source="idle.json"),
        Row("idle sessions: generator RSS, KB per session",
            w or r.get("generator_kb_per_connection"), source="idle.json"),
    ]
    return rows


def group_rows(data: dict) -> list[Row]:
    r = run_result(data, "group", "stompim") or {}
    w = why(run_result(data, "group", "stompim"))
    size = f"{fmt(r.get('members'))} members, {fmt(r.get('online'))} online"
    rows_per = w or dig(r, "large", "rows_changed_per_msg")
    small = dig(r, "small_10", "rows_changed_per_msg")
    o1 = r.get("o1_db_writes")
    verdict = "not measured" if not num(rows_per) else (
        f"**pass** ({fmt(rows_per)} vs {fmt(small)})" if o1 is True
        else f"**miss** ({fmt(rows_per)} vs {fmt(small)})")
    large = r.get("large")
    return [
        Row(f"group message, DB rows changed per message ({size})", rows_per,
            f"10-member group {fmt(small)}", "", "O(1): same as a 10-member group", verdict,
            cpu(large), "group.json"),
        Row(f"group messages/s ({size})", w or dig(large, "group_msgs_per_s"), cpu=cpu(large),
            source="group.json"),
        Row(f"group deliveries/s ({size})", w or dig(large, "deliveries_per_s"),
            cpu=cpu(large), source="group.json"),
    ]


def _workers_fig(r: Any, key: str) -> Any:
    if not isinstance(r, dict):
        return None
    part = r.get(key)
    if why(part):
        return why(part)
    if key == "throughput":
        return dig(part, "msgs_per_s"), part
    if key == "fanout":
        m = dig(part, "subscribers", "200")
        return dig(m, "deliveries_per_s"), m
    m = dig(part, "max")
    return dig(m, "stored_msgs_per_s"), m


def workers_rows(data: dict) -> list[Row]:
    """1->1, fan-out to 200 and persisted chat (MariaDB) with 1 and 2 workers, one run."""
    d = data.get("workers")
    runs = d.get("runs") if isinstance(d, dict) else None
    if not isinstance(runs, dict):
        return [Row("workers: 1->1, fan-out, persisted chat with 1 and 2 workers", "not run",
                    source="workers.json")]
    rows = []
    for key, label in (("throughput", "1->1 throughput, msg/s"),
                       ("fanout", "fan-out 1->200, deliveries/s"),
                       ("chat", "persisted chat (MariaDB), stored msg/s")):
        one, two = _workers_fig(runs.get("1"), key), _workers_fig(runs.get("2"), key)
        v1, _ = one if isinstance(one, tuple) else (one, None)
        v2, m2 = two if isinstance(two, tuple) else (two, None)
        r = v2 / v1 if num(v1) and num(v2) and v1 else None
        rows.append(Row(f"{label}, 2 workers", v2, f"1 worker {fmt(v1)}",
                        f"{r:.2f}x" if r else "", "recorded (issue 17: record 1 and 2 workers)",
                        "recorded" if num(v2) and num(v1) else "not measured", cpu(m2),
                        "workers.json"))
    return rows


def _find_rates(d: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every `*msgs_per_s` figure in a file of unknown shape, with where it sits."""
    out: list[tuple[str, Any]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            here = f"{path}.{k}" if path else str(k)
            if str(k).endswith(("msgs_per_s", "msg_per_s")) and num(v):
                out.append((here, v))
            elif isinstance(v, (dict, list)):
                out += _find_rates(v, here)
    elif isinstance(d, list):
        for i, v in enumerate(d[:20]):
            out += _find_rates(v, f"{path}[{i}]")
    return out


def cluster_rows(data: dict) -> list[Row]:
    rows: list[Row] = []
    for key in sorted(k for k in data if k.startswith("cluster4-")):  # other rates, kept
        rows += _cluster_summary(data[key], f"{key}.json")
    c = data.get("cluster4")
    if not isinstance(c, dict) or why(c):
        rows.append(Row("4-node capacity check: per-node figures within the model's error",
                        why(c) if isinstance(c, dict) else "not run", source="cluster4.json"))
    else:
        chk = c.get("check") or {}
        rows += _cluster_summary(c, "cluster4.json")
        by_fig: dict[str, list[dict]] = {}
        for r in chk.get("rows") or []:
            by_fig.setdefault(str(r.get("figure")), []).append(r)
        for fig, rs in by_fig.items():
            errs = [r.get("error") for r in rs if num(r.get("error"))]
            worst = max(errs, key=abs) if errs else None
            ok = [r.get("pass") for r in rs if r.get("pass") is not None]
            meas = [r.get("measured") for r in rs]
            pred = [r.get("predicted") for r in rs]
            allowed = rs[0].get("allowed")
            res = "not measured" if not ok else (
                f"**{'pass' if all(ok) else 'miss'}** (worst {100 * worst:+.0f}%, allowed "
                f"±{100 * allowed:.0f}%)" if num(worst) and num(allowed) else "")
            per = "" if all(r.get("node") == "redis" for r in rs) else " (per node)"
            rows.append(Row(f"4-node check: {fig}{per}",
                            " / ".join(fmt(m) for m in meas),
                            "predicted " + " / ".join(fmt(p) for p in pred), "",
                            f"within ±{100 * allowed:.0f}%" if num(allowed) else "", res,
                            "", "cluster4.json"))
        for b in c.get("db_batches") or []:
            if isinstance(b, dict) and b.get("batch") in (1, 4, 16, 64):
                rows.append(Row(
                    f"MariaDB commits/s, batch {b['batch']}, {b.get('writers')} writer(s) "
                    "(node's write_batch)", b.get("commits_per_s"),
                    f"{fmt(b.get('msgs_per_s'))} msg/s", "", "", "",
                    f"loop {fmt(b.get('generator_cpu_pct'))} / db {fmt(b.get('db_cpu_pct'))}"
                    f" / others {fmt(b.get('others_cpu_pct'))}", "cluster4.json"))
    return rows + queue_rows(data)


def queue_rows(data: dict) -> list[Row]:
    """The generic queue across nodes (bench/queue_cluster.py): its cross-node msg/s beside
    one node's, or any msg/s figure a file of another shape holds."""
    name = next((k for k in ("queue_cluster", "queue-cluster") if k in data), "queue_cluster")
    q, src = data.get(name), f"{name}.json"
    label = "generic /queue/** across nodes (Redis streams), msg/s"
    if not isinstance(q, dict):
        return [Row(label, "not run", source=src)]
    cross = dig(q, "cross_node_redis", "msg_per_s")
    if num(cross):
        one = dig(q, "single_node_memory", "msg_per_s")
        red = dig(q, "single_node_redis", "msg_per_s")
        r = cross / one if num(one) and one else None
        return [Row(label, cross, f"one node in memory {fmt(one)}; one node on Redis {fmt(red)}",
                    f"{r:.2f}x one node" if r else "", "recorded", "recorded", "", src)]
    rates = _find_rates(q)
    if not rates:
        return [Row(label, why(q) or "no msg/s figure", source=src)]
    return [Row(f"{label} ({where})", v, source=src) for where, v in rates[:4]]


def _cluster_summary(c: Any, source: str) -> list[Row]:
    if not isinstance(c, dict) or why(c):
        return [Row("4-node capacity check", why(c) if isinstance(c, dict) else "unreadable",
                    source=source)]
    chk = c.get("check") or {}
    passed, judged = chk.get("passed"), chk.get("judged")
    pct = (c.get("load") or {}).get("cpu_pct") or {}
    nodes_cpu = sum(v for k, v in pct.items() if k.startswith("node") and num(v))
    cpu_text = (f"gen {fmt(pct.get('generator'))} / 4 nodes {fmt(nodes_cpu)} / db "
                f"{fmt(pct.get('mariadb'))} / redis {fmt(pct.get('redis'))} / others "
                f"{fmt(pct.get('others'))}")
    verdict = "not measured"
    if num(passed) and num(judged):
        verdict = "**pass**" if passed == judged else (
            f"**miss** ({fmt(judged - passed)} of {fmt(judged)} outside)")
    return [Row(f"4-node capacity check ({fmt(c.get('rate'))} msg/s, 10% group): per-node "
                "figures within the model's stated error", f"{fmt(passed)}/{fmt(judged)}",
                "docs/capacity.md model", "", "every figure within its error", verdict,
                cpu_text, source)]


def cluster_details(data: dict) -> list[str]:
    c = data.get("cluster4")
    if not isinstance(c, dict) or why(c):
        return []
    chk = c.get("check") or {}
    lines = [
        "## 4-node capacity check (bench/cluster4.py)",
        "",
        f"`{c.get('command')}` at {c.get('when')}: {c.get('nodes')} nodes (separate "
        f"processes, one MariaDB database, one Redis), {fmt(c.get('users'))} users in a ring "
        f"of friends (user j writes to user j+1 on the next node), groups of "
        f"{fmt(c.get('group_size'))} spread over every node, {fmt(c.get('idle_per_node'))} "
        f"idle sessions per node; {fmt(c.get('rate'))} msg/s for {fmt(c.get('seconds'))} s, "
        f"every 10th a group message. CPU share per node: {chk.get('share_cores_per_node')} "
        f"core ({chk.get('share_note')}). Load average {c.get('load_average_start')} -> "
        f"{c.get('load_average_end')}. Model and accounting: docs/capacity.md.",
        "",
        "| node | figure | measured | predicted | error | allowed | result |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in chk.get("rows") or []:
        err, allowed = r.get("error"), r.get("allowed")
        res = {True: "pass", False: "**miss**"}.get(r.get("pass"), "—")
        lines.append(
            f"| {r.get('node')} | {r.get('figure')} | {fmt(r.get('measured'))} | "
            f"{fmt(r.get('predicted'))} | "
            f"{f'{100 * err:+.0f}%' if num(err) else '—'} | "
            f"{f'±{100 * allowed:.0f}%' if num(allowed) else '—'} | {res} |")
    return [*lines, ""]


def workers_details(data: dict) -> list[str]:
    d = data.get("workers")
    if not isinstance(d, dict):
        return []
    return [
        "## Workers (bench/workers.py)",
        "",
        f"`{d.get('command')}` at {d.get('when')}{' (quick phases)' if d.get('quick') else ''}:"
        " each configuration a fresh node; 1 worker is the default single process without "
        "Redis, 2 workers share the ports (SO_REUSEPORT) and meet through Redis. Broker CPU "
        "is the supervisor and its workers together; the generator shares the 2 cores.",
        "",
        *[f"- {w} worker(s): load average {dig(r, 'load_average_start')} at the start; "
          f"others' CPU during 1->1 {fmt(dig(r, 'throughput', 'others_cpu_pct'))}%, fan-out "
          f"{fmt(dig(r, 'fanout', 'subscribers', '200', 'others_cpu_pct'))}%, chat "
          f"{fmt(dig(r, 'chat', 'max', 'others_cpu_pct'))}% of a core"
          for w, r in sorted((d.get("runs") or {}).items())],
        "",
    ]


def scale_notes(data: dict) -> list[str]:
    """A section under the table: how the idle and group runs were made and what bounded
    them (limits, source addresses, listen queue, set-up, load average)."""
    idle = run_result(data, "idle", "stompim")
    group = run_result(data, "group", "stompim")
    lines: list[str] = []
    if idle and not why(idle):
        gen = idle.get("generator_rss_mb") or {}
        conn = idle.get("connect_phase") or {}
        lines += [
            f"- **idle**: {fmt(idle.get('connections'))} sessions of "
            f"{fmt(idle.get('requested'))} requested"
            + (f" on {idle.get('workers')} workers" if idle.get("workers") else "")
            + f", heart-beats {idle.get('heartbeat_negotiated_ms')} ms, held "
            f"{fmt(idle.get('hold_s'))} s, from source addresses "
            f"{idle.get('source_addresses')}; opened {fmt(idle.get('connect_concurrency'))} "
            f"at a time at {fmt(idle.get('connects_per_s'))}/s in "
            f"{fmt(idle.get('connect_s'))} s ({fmt(idle.get('connect_retries'))} retries, "
            f"{fmt(idle.get('connect_failures'))} failures, kernel listen overflows "
            f"{fmt(idle.get('listen_overflows'))}, drops {fmt(idle.get('listen_drops'))}; "
            f"CPU while opening: generator {fmt(conn.get('generator_cpu_pct'))}%, broker "
            f"{fmt(conn.get('broker_cpu_pct'))}%, others {fmt(conn.get('others_cpu_pct'))}% "
            f"of one core); broker RSS {fmt(idle.get('rss_before_mb'))} -> "
            f"{fmt(idle.get('rss_held_mb'))} MB; generator RSS {fmt(gen.get('before'))} -> "
            f"{fmt(gen.get('held'))} MB; {fmt(idle.get('heard_from_server_recently'))} heard "
            f"from the server in the last interval; load average {idle.get('load_average')}.",
        ]
        if idle.get("limited_by"):
            lines.append(f"- **idle, what bounded the count**: {idle['limited_by']}.")
    if group and not why(group):
        setup = group.get("setup") or {}
        large = group.get("large") or {}
        lines.append(
            f"- **group**: set-up (not measured) {setup.get('store_bulk_members')} members "
            f"written through the store in {setup.get('store_bulk_insert_s')} s, "
            f"{setup.get('rest_logins')} REST logins in {setup.get('rest_login_s')} s; "
            f"{fmt(large.get('messages'))} messages, {fmt(large.get('deliveries'))} of "
            f"{fmt(large.get('expected_deliveries'))} deliveries, rows changed by table "
            f"{large.get('rows_changed_by_table')} (10-member group: "
            f"{dig(group, 'small_10', 'rows_changed_by_table')}); receipt p99 "
            f"{dig(large, 'receipt_latency', 'p99_ms')} ms; load average "
            f"{group.get('load_average_start')} -> {group.get('load_average_end')}."
        )
    return ["## Scale runs (issue 17)", "", *lines, ""] if lines else []
