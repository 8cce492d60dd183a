"""The rows of bench/results/README.md for the scale scenarios of issue 17: idle sessions
(50,000 on one node, <= 20 KB of broker RSS each) and the large group (O(1) database
writes per message).

Kept apart from bench/report.py, which calls `idle_rows(data)` and `group_rows(data)`
where those figures belong in the table; each returns rows in report.py's shape
(figure, {target: value}, target text, verdict).
"""

from __future__ import annotations

from typing import Any

from bench.report import TARGETS, Row, _dig, _fmt, _res, _verdict, _why

IDLE_TARGET_SESSIONS = 50_000
IDLE_TARGET_KB = 20.0


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _vals(data: dict, scenario: str, key: str, targets: tuple[str, ...] = TARGETS) -> dict:
    out: dict[str, Any] = {}
    for t in targets:
        r = _res(data, scenario, t)
        out[t] = _why(r) or _dig(r, *key.split("."))
    return out


def idle_rows(data: dict) -> list[Row]:
    r = _res(data, "idle", "stompim") or {}
    n, alive = r.get("connections"), r.get("alive_at_end")
    held: dict[str, Any] = {}
    for t in TARGETS:
        tr = _res(data, "idle", t)
        held[t] = _why(tr) or f"{_fmt(tr.get('alive_at_end'))}/{_fmt(tr.get('connections'))}"
    if not _num(n):
        verdict = "not measured"
    elif alive == n and n >= IDLE_TARGET_SESSIONS:
        verdict = "**pass**"
    else:
        why = []
        if n < IDLE_TARGET_SESSIONS:
            limit = (r.get("open_file_limits") or {}).get("stompim")
            cause = ""
            if r.get("limited_by") and limit:
                cause = f" (open-file hard limit {limit[1]:,} here)"
            why.append(f"{_fmt(n)} of {IDLE_TARGET_SESSIONS:,} held{cause}")
        why.append(f"{_fmt(alive)} of {_fmt(n)} alive")
        verdict = "**miss**: " + ", ".join(why)
    kb = _vals(data, "idle", "kb_per_connection")
    return [
        (
            "idle WebSocket sessions on one node, alive at the end / held",
            held,
            f"{IDLE_TARGET_SESSIONS:,}, all alive",
            verdict,
        ),
        (
            "idle WebSocket session, KB of broker RSS each",
            kb,
            f"<= {IDLE_TARGET_KB:g} KB",
            _verdict(_num(kb["stompim"]) and kb["stompim"] <= IDLE_TARGET_KB, kb["stompim"]),
        ),
        ("idle sessions: connect rate, sessions/s", _vals(data, "idle", "connects_per_s"), "", ""),
        (
            "idle sessions: generator RSS, KB per session",
            _vals(data, "idle", "generator_kb_per_connection"),
            "",
            "",
        ),
    ]


def scale_notes(data: dict) -> list[str]:
    """A section under the table: how the idle and group runs were made and what bounded
    them (limits, source addresses, listen queue, set-up, load average)."""
    idle = _res(data, "idle", "stompim")
    group = _res(data, "group", "stompim")
    lines: list[str] = []
    if idle and not _why(idle):
        gen = idle.get("generator_rss_mb") or {}
        conn = idle.get("connect_phase") or {}
        lines += [
            f"- **idle**: {_fmt(idle.get('connections'))} sessions of "
            f"{_fmt(idle.get('requested'))} requested, heart-beats "
            f"{idle.get('heartbeat_negotiated_ms')} ms, held {_fmt(idle.get('hold_s'))} s, "
            f"from source addresses {idle.get('source_addresses')}; opened "
            f"{_fmt(idle.get('connect_concurrency'))} at a time at "
            f"{_fmt(idle.get('connects_per_s'))}/s in {_fmt(idle.get('connect_s'))} s "
            f"({_fmt(idle.get('connect_retries'))} retries, "
            f"{_fmt(idle.get('connect_failures'))} failures, kernel listen overflows "
            f"{_fmt(idle.get('listen_overflows'))}, drops {_fmt(idle.get('listen_drops'))}; "
            f"CPU while opening: generator {_fmt(conn.get('generator_cpu_pct'))}%, broker "
            f"{_fmt(conn.get('broker_cpu_pct'))}%, others {_fmt(conn.get('others_cpu_pct'))}% "
            f"of one core, {_fmt(conn.get('cores'))} cores); "
            f"broker RSS {_fmt(idle.get('rss_before_mb'))} -> {_fmt(idle.get('rss_held_mb'))} MB; "
            f"generator RSS {_fmt(gen.get('before'))} -> {_fmt(gen.get('held'))} MB; "
            f"{_fmt(idle.get('heard_from_server_recently'))} heard from the server in the last "
            f"interval; load average {idle.get('load_average')}.",
        ]
        if idle.get("limited_by"):
            lines.append(f"- **idle, what bounded the count**: {idle['limited_by']}.")
    if group and not _why(group):
        setup = group.get("setup") or {}
        large = group.get("large") or {}
        lines.append(
            f"- **group**: set-up (not measured) {setup.get('store_bulk_members')} members "
            f"written through the store in {setup.get('store_bulk_insert_s')} s, "
            f"{setup.get('rest_logins')} REST logins in {setup.get('rest_login_s')} s; "
            f"{_fmt(large.get('messages'))} messages, {_fmt(large.get('deliveries'))} of "
            f"{_fmt(large.get('expected_deliveries'))} deliveries, rows changed by table "
            f"{large.get('rows_changed_by_table')} (10-member group: "
            f"{_dig(group, 'small_10', 'rows_changed_by_table')}); receipt p99 "
            f"{_dig(large, 'receipt_latency', 'p99_ms')} ms; load average "
            f"{group.get('load_average_start')} -> {group.get('load_average_end')}."
        )
    return ["## Scale runs (issue 17)", "", *lines, ""] if lines else []


def group_rows(data: dict) -> list[Row]:
    only = ("stompim",)
    r = _res(data, "group", "stompim") or {}
    size = f"{_fmt(r.get('members'))} members, {_fmt(r.get('online'))} online"
    rows = _vals(data, "group", "large.rows_changed_per_msg", only)
    small = _dig(r, "small_10", "rows_changed_per_msg")
    return [
        (
            f"group message, DB rows changed per message ({size}; 10-member group:"
            f" {_fmt(small)})",
            rows,
            "O(1): same as 10-member group",
            _verdict(r.get("o1_db_writes") is True, rows["stompim"]),
        ),
        (f"group messages/s ({size})", _vals(data, "group", "large.group_msgs_per_s", only),
         "", ""),
        (f"group deliveries/s ({size})", _vals(data, "group", "large.deliveries_per_s", only),
         "", ""),
    ]
