"""The PNG plots of bench/results/README.md (matplotlib, the bench extra's dependency).

`make_plots(results, data)` draws what the JSON holds and returns the files written:
throughput and fan-out by broker, latency at fixed rates, 1 vs 2 workers, and the 4-node
check (per-node CPU and transactions, measured against predicted). A plot whose data is
absent is skipped; without matplotlib there are no plots and the table is still written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report_table import dig, num, run_result

TARGETS = ("stompim", "rabbitmq", "raw")


def make_plots(results: Path, data: dict) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    for draw in (_throughput, _latency, _workers, _cluster):
        p = draw(plt, results, data)
        if p is not None:
            made.append(p)
    return made


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _throughput(plt: Any, results: Path, data: dict) -> Path | None:
    tput = [dig(run_result(data, "throughput", t), "msgs_per_s") or 0 for t in TARGETS]
    fan = [dig(run_result(data, "fanout", t), "subscribers", "200", "deliveries_per_s") or 0
           for t in TARGETS]
    if not any(tput) and not any(fan):
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    x = range(len(TARGETS))
    ax.bar([i - 0.2 for i in x], tput, 0.4, label="1->1 msg/s")
    ax.bar([i + 0.2 for i in x], fan, 0.4, label="fan-out x200 deliveries/s")
    ax.set_xticks(list(x), list(TARGETS))
    ax.set_ylabel("per second")
    ax.set_title("Throughput (WebSocket, 100-byte bodies)")
    ax.legend()
    return _save(plt, fig, results / "throughput.png")


def _latency(plt: Any, results: Path, data: dict) -> Path | None:
    rates, pcts = ("1000", "2000", "5000"), ("p50_ms", "p99_ms", "p999_ms")
    series = {t: dig(run_result(data, "latency", t), "rates") for t in TARGETS}
    if not any(series.values()):
        return None
    fig, axes = plt.subplots(1, len(rates), figsize=(11, 4), sharey=True)
    for ax, rate in zip(axes, rates, strict=False):
        for i, t in enumerate(TARGETS):
            vals = [dig(series[t], rate, p) or 0 for p in pcts]
            ax.bar([j + (i - 1) * 0.27 for j in range(len(pcts))], vals, 0.27, label=t)
        ax.set_xticks(range(len(pcts)), ["p50", "p99", "p99.9"])
        ax.set_title(f"{int(rate):,} msg/s")
        ax.set_yscale("log")
    axes[0].set_ylabel("latency, ms (log)")
    axes[-1].legend()
    fig.suptitle("Publish -> deliver latency at fixed rates")
    return _save(plt, fig, results / "latency.png")


def _workers(plt: Any, results: Path, data: dict) -> Path | None:
    runs = dig(data, "workers", "runs")
    if not isinstance(runs, dict):
        return None
    figs = (("1->1 msg/s", ("throughput", "msgs_per_s")),
            ("fan-out x200 deliveries/s", ("fanout", "subscribers", "200", "deliveries_per_s")),
            ("chat stored msg/s", ("chat", "max", "stored_msgs_per_s")))
    vals = {w: [dig(runs.get(w), *p) for _, p in figs] for w in ("1", "2")}
    if not any(num(v) for vs in vals.values() for v in vs):
        return None
    fig, axes = plt.subplots(1, len(figs), figsize=(11, 3.6))
    for i, (ax, (label, _)) in enumerate(zip(axes, figs, strict=True)):
        ys = [vals[w][i] if num(vals[w][i]) else 0 for w in ("1", "2")]
        ax.bar(["1 worker", "2 workers"], ys, color=["#777", "#2a7"])
        ax.set_title(label)
    fig.suptitle("stompim serve --workers: 1 and 2 workers, one run")
    return _save(plt, fig, results / "workers.png")


def _cluster(plt: Any, results: Path, data: dict) -> Path | None:
    rows = dig(data, "cluster4", "check", "rows")
    if not isinstance(rows, list):
        return None
    figs = [f for f in ("CPU, % of a core (load)", "MariaDB transactions/s (chat batches)",
                        "bridge records received/s", "receipt p50, ms")
            if any(r.get("figure") == f for r in rows)]
    if not figs:
        return None
    fig, axes = plt.subplots(1, len(figs), figsize=(3.4 * len(figs), 3.6))
    axes = axes if len(figs) > 1 else [axes]
    for ax, name in zip(axes, figs, strict=True):
        rs = [r for r in rows if r.get("figure") == name]
        nodes = [str(r.get("node")) for r in rs]
        meas = [r.get("measured") if num(r.get("measured")) else 0 for r in rs]
        pred = [r.get("predicted") if num(r.get("predicted")) else 0 for r in rs]
        allowed = rs[0].get("allowed") or 0
        x = range(len(nodes))
        ax.bar([i - 0.2 for i in x], meas, 0.4, label="measured")
        ax.bar([i + 0.2 for i in x], pred, 0.4, label="predicted",
               yerr=[p * allowed for p in pred], capsize=3)
        ax.set_xticks(list(x), [f"node {n}" for n in nodes])
        ax.set_title(name, fontsize=9)
    axes[0].legend(fontsize=8)
    fig.suptitle("4 nodes on one machine against the capacity model (bars: stated error)")
    return _save(plt, fig, results / "cluster4.png")
