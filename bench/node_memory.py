"""Memory, descriptors and CPU of a node that may be several processes.

A node served by `stompim serve --workers N` is a supervisor and its N worker
processes; its memory is the sum over all of them. Two sums are given: RSS (what
`ps` shows; pages shared between the processes, such as the interpreter's and
libraries' file-backed pages, are counted once per process) and PSS (each shared page
divided among the processes sharing it, so the sum counts every page once), both from
/proc/<pid>/smaps_rollup. Open descriptors per process say how many sessions each
worker holds (sessions = descriptors now - descriptors of the idle node).

Call order: `snap = snapshot(root_pid)` whenever a figure is wanted (it reads /proc, a
few ms per process); `totals(snap)` sums it; `sessions_on(snap, port)` counts each
process's sessions; `per_process_delta(before, after, sessions)` pairs two snapshots
process by process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil


@dataclass(frozen=True)
class ProcMem:
    """One process of the node: bytes of RSS, PSS and USS (private pages), open
    descriptors, CPU seconds (user + system) so far."""

    pid: int
    role: str  # "supervisor", "worker" or "node" (a single-process node)
    rss: int
    pss: int
    uss: int
    fds: int
    cpu_s: float


def smaps_rollup(pid: int, root: str = "/proc") -> dict[str, int]:
    """Rss, Pss and Uss (Private_Clean + Private_Dirty) of `pid` in bytes; {} if unreadable."""
    try:
        text = Path(f"{root}/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    kb: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if sep and len(parts) == 2 and parts[1] == "kB":
            kb[name] = int(parts[0])
    if "Rss" not in kb:
        return {}
    return {
        "rss": kb["Rss"] * 1024,
        "pss": kb.get("Pss", kb["Rss"]) * 1024,
        "uss": (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) * 1024,
    }


def snapshot(root_pid: int) -> list[ProcMem]:
    """The node's processes: `root_pid` and its descendants (empty if it is gone)."""
    try:
        root = psutil.Process(root_pid)
        kids = root.children(recursive=True)
    except psutil.Error:
        return []
    out = []
    for proc in [root, *kids]:
        role = "worker" if proc is not root else ("supervisor" if kids else "node")
        mem = smaps_rollup(proc.pid)
        try:
            fds = proc.num_fds()
            t = proc.cpu_times()
            if not mem:
                info = proc.memory_info()
                mem = {"rss": info.rss, "pss": info.rss, "uss": info.rss}
        except psutil.Error:
            continue
        out.append(ProcMem(proc.pid, role, mem["rss"], mem["pss"], mem["uss"], fds,
                           t.user + t.system))
    return out


def sessions_on(snap: list[ProcMem], port: int) -> dict[int, int]:
    """Established TCP connections to local `port` held by each process of the snapshot
    (psutil reads /proc/net/tcp once per process: a second or so at 50,000 sessions)."""
    out = {}
    for p in snap:
        try:
            conns = psutil.Process(p.pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        out[p.pid] = sum(1 for c in conns
                         if c.status == psutil.CONN_ESTABLISHED and c.laddr
                         and c.laddr.port == port)
    return out


def totals(snap: list[ProcMem]) -> dict[str, int]:
    """Sums over the node's processes: rss, pss, uss (bytes), fds, processes."""
    return {
        "rss": sum(p.rss for p in snap),
        "pss": sum(p.pss for p in snap),
        "uss": sum(p.uss for p in snap),
        "fds": sum(p.fds for p in snap),
        "processes": len(snap),
    }


def per_process_delta(before: list[ProcMem], after: list[ProcMem],
                      sessions: dict[int, int]) -> list[dict[str, Any]]:
    """Per process present in both: `sessions` it holds, descriptors added, MB of RSS and
    PSS now, and KB of RSS / PSS growth per session held (None when it holds none)."""
    first = {p.pid: p for p in before}
    out: list[dict[str, Any]] = []
    for p in after:
        b = first.get(p.pid)
        if b is None:
            continue
        held = sessions.get(p.pid, 0)
        out.append({
            "pid": p.pid,
            "role": p.role,
            "sessions": held,
            "descriptors_added": p.fds - b.fds,
            "cpu_s": round(p.cpu_s - b.cpu_s, 2),
            "rss_mb": round(p.rss / 2**20, 1),
            "pss_mb": round(p.pss / 2**20, 1),
            "rss_kb_per_session": round((p.rss - b.rss) / held / 1024, 2) if held > 0 else None,
            "pss_kb_per_session": round((p.pss - b.pss) / held / 1024, 2) if held > 0 else None,
        })
    return out
