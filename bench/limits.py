"""Open-file limits of the generator and of the node it measures.

Every session costs one file descriptor on each side, and the default soft limit (1,024
on most systems) stops both sides long before 50,000 sessions. A process may raise its
soft limit up to its hard limit on its own; raising the hard limit needs privileges
(CAP_SYS_RESOURCE), so it is set where the process is started: `ulimit -Hn 200000` in
the shell (as root), `LimitNOFILE=200000` in a systemd unit,
`docker run --ulimit nofile=200000:200000`, or `nofile` in /etc/security/limits.conf.

Call order: `raise_own_limit()` once at the generator's start; `node_limit(pid)` once the
node runs; `missing_room(count, limits)` says which side cannot hold `count` sessions.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

FD_RESERVE = 256
"""Descriptors each side keeps for everything but the sessions: listeners, the database
pool, logs, the REST client, libraries."""

RAISE_HINT = (
    "raise the hard limit where the processes start: `ulimit -Hn 200000` (as root) in the "
    "shell that runs `python -m bench`, LimitNOFILE= in a systemd unit, "
    "`docker run --ulimit nofile=200000:200000`, or nofile in /etc/security/limits.conf"
)


@dataclass(frozen=True)
class FileLimit:
    """RLIMIT_NOFILE of one process (RLIM_INFINITY shown as -1)."""

    soft: int
    hard: int

    def room(self) -> int:
        """Sessions this process can hold beside its FD_RESERVE."""
        soft = self.soft if self.soft >= 0 else 1 << 30
        return max(0, soft - FD_RESERVE)


def own_limit() -> FileLimit:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return FileLimit(int(soft), int(hard))


def raise_own_limit() -> tuple[FileLimit, FileLimit]:
    """Raise this process's soft open-file limit to its hard limit: (before, after)."""
    before = own_limit()
    if before.soft != before.hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (before.hard, before.hard))
    return before, own_limit()


def node_limit(pid: int | None) -> FileLimit | None:
    """The open-file limit the node process runs with (None if it cannot be read)."""
    if pid is None:
        return None
    import psutil

    try:
        soft, hard = psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)
    except (psutil.Error, OSError):
        return None
    return FileLimit(int(soft), int(hard))


def missing_room(count: int, limits: dict[str, FileLimit | None]) -> str | None:
    """None when every named process can hold `count` sessions; else why not, and how to
    raise the limit."""
    short = [
        f"the {who}'s open-file limit is {lim.soft} (hard {lim.hard}): room for "
        f"{lim.room():,} sessions beside {FD_RESERVE} reserved descriptors"
        for who, lim in limits.items()
        if lim is not None and lim.room() < count
    ]
    if not short:
        return None
    fit = min(lim.room() for lim in limits.values() if lim is not None)
    return (
        f"{count:,} sessions do not fit: " + "; ".join(short)
        + f". At most {fit:,} fit here (--count {fit}); to run {count:,}, " + RAISE_HINT
    )
