"""Rows of bench/results/README.md from the standalone benches: STOMP on the REST port
(`rest-port.json`), message search (`search.json`), the timeline (`timeline.json`), the
/metrics counters' cost (`metrics_overhead.json`) and the hostile floods (`hostile.json`).

Each file has its own shape (written by its bench's `main`); every key is read loosely, so
an absent file or figure is a row saying "not run" or "—". Where the issue that asked for
a figure set no number, the row says "recorded".
"""

from __future__ import annotations

from bench.report_table import Row, cpu, dig, fmt, margin, num


def _rest_port(data: dict) -> list[Row]:
    d = data.get("rest-port")
    res = dig(d, "result") if isinstance(d, dict) else None
    if not isinstance(res, dict):
        return [Row("STOMP on the REST port, 1->1 msg/s", "not run", source="rest-port.json")]
    fast = next((v for k, v in res.items() if "fast" in k), None)
    rest = next((v for k, v in res.items() if "REST" in k), None)
    rows = []
    for label, path in (("1->1 msg/s", ("throughput", "msgs_per_s")),
                        ("@2000/s p99, ms", ("latency", "rates", "2000", "p99_ms"))):
        a, b = dig(rest, *path), dig(fast, *path)
        r = a / b if num(a) and num(b) and b else None
        rows.append(Row(f"STOMP on the REST port (aiohttp), {label}", a,
                        f"WebSocket fast path {fmt(b)}", f"{r:.2f}x" if r else "",
                        "recorded (issue 12: same broker, one more endpoint)",
                        "recorded" if num(a) else "not measured",
                        cpu(dig(rest, *path[:-1]) if label.startswith("1") else
                            dig(rest, "latency", "rates", "2000")), "rest-port.json"))
    return rows


def _search(data: dict) -> list[Row]:
    d = data.get("search")
    if not isinstance(d, dict):
        return [Row("message search over 1,000,000 messages, p99 ms", "not run",
                    source="search.json")]
    n = d.get("messages")
    rows = [Row(f"message search over {fmt(n)} messages (MariaDB), p50 / p99 ms",
                f"{fmt(dig(d, 'overall_ms', 'p50'))} / {fmt(dig(d, 'overall_ms', 'p99'))}",
                "", "", "recorded", "recorded", "", "search.json")]
    worst = max(((k, v) for k, v in (d.get("by_kind_ms") or {}).items() if isinstance(v, dict)),
                key=lambda kv: kv[1].get("p99") or 0, default=None)
    if worst:
        rows.append(Row(f"message search, slowest kind ({worst[0]}), p99 ms",
                        worst[1].get("p99"), source="search.json", result="recorded"))
    return rows


def _timeline(data: dict) -> list[Row]:
    d = data.get("timeline")
    if not isinstance(d, dict):
        return [Row("timeline page, p99 ms", "not run", source="timeline.json")]
    rows = []
    for kind, r in (d.get("results") or {}).items():
        t, p = dig(r, "timeline", "p99_ms"), dig(r, "plain", "p99_ms")
        x = t / p if num(t) and num(p) and p else None
        rows.append(Row(f"timeline page of {fmt(dig(r, 'messages_per_timeline_page'))} "
                        f"({kind}, {fmt(r.get('messages'))} messages), p99 ms", t,
                        f"plain history page {fmt(p)}", f"{x:.2f}x" if x else "", "recorded",
                        "recorded" if num(t) else "not measured", "", "timeline.json"))
    return rows


def _metrics(data: dict) -> list[Row]:
    d = data.get("metrics_overhead")
    if not isinstance(d, dict):
        return [Row("/metrics counters: added CPU per SEND, ns", "not run (see metrics.md)",
                    source="metrics_overhead.json")]
    ns = d.get("per_send_in_chunks_ns")
    return [Row("/metrics counters: added CPU per SEND (100-frame chunks), ns", ns,
                f"per SEND alone {fmt(d.get('per_send_ns'))} ns", "",
                "recorded (instructions per SEND: metrics.md)",
                "recorded" if num(ns) else "not measured", "", "metrics_overhead.json")]


def _hostile(data: dict) -> list[Row]:
    d = data.get("hostile")
    floods = d.get("floods") if isinstance(d, dict) else None
    if not isinstance(floods, list) or not floods:
        return [Row("hostile floods: node RSS peak over rest, MiB", "not run (see hostile.md)",
                    source="hostile.json")]
    rows = []
    for f in floods:
        if not isinstance(f, dict):
            continue
        peak, bound = f.get("peak_mib"), f.get("peak_bound_mib")
        res = margin(peak, bound, higher_is_better=False) if num(bound) else (
            "recorded" if num(peak) else "not measured")
        after = f.get("after_mib")
        rows.append(Row(f"hostile: {f.get('flood')}: RSS peak over rest, MiB", peak,
                        f"after {fmt(after)} MiB (bound {fmt(f.get('after_bound_mib'))})"
                        if after is not None else "", "",
                        f"<= {fmt(bound)} MiB (the test's bound)" if num(bound) else "", res,
                        "", "hostile.json"))
    return rows


def misc_rows(data: dict) -> list[Row]:
    out: list[Row] = []
    for make in (_rest_port, _search, _timeline, _metrics, _hostile):
        try:
            out += make(data)
        except Exception as exc:  # a file of an unexpected shape: say so, keep going
            out.append(Row(f"{make.__name__[1:]}", f"unreadable: {type(exc).__name__}"))
    return out


__all__ = ["misc_rows"]

