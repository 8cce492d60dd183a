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
        short = f"{_fmt(alive)} alive of {_fmt(n)} held"
        if n < IDLE_TARGET_SESSIONS:
            short += f", {_fmt(n)} of {IDLE_TARGET_SESSIONS:,} opened"
            limit = (r.get("open_file_limits") or {}).get("stompim")
            if r.get("limited_by") and limit:
                short += f" (open-file hard limit {limit[1]:,})"
        verdict = f"**miss**: {short}"
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
