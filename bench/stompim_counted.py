"""`python -m bench.stompim_counted ARGS` = `python -m stompim ARGS`, recording each chat batch.

The database-ceiling measurement (bench/ceiling.py) must write "the same batch sizes"
as the node did; only the node knows how its single writer grouped the sends. This
launcher wraps `MessageRepository.write_batch` before the node starts and appends one
line per call to the file named by `BENCH_BATCH_LOG`: `start end size` (monotonic
seconds, the system-wide clock the generator also reads, and the number of messages).
The wrapper costs one formatted write per batch (a few hundred a second), not per
message. Lines are flushed as written, so a killed node loses nothing. Only the
writer's own call is logged: when a batch is refused, write_batch splits it and calls
itself on the halves, and those inner calls are part of the one batch already logged.

Call order: the generator sets `BENCH_BATCH_LOG` and starts this module instead of
`stompim` (Options.module); `read_batch_log()` parses the file afterwards.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TextIO


def install(path: str) -> TextIO:
    """Wrap MessageRepository.write_batch so that every call is logged to `path`.

    Returns the open log file: the node keeps it for its lifetime; a test closes it."""
    from stompim.store import messages

    original = messages.MessageRepository.write_batch
    out = open(path, "a", buffering=1)  # line-buffered: one write(2) per batch
    inside: ContextVar[bool] = ContextVar("inside_write_batch", default=False)

    async def write_batch(self: Any, items: Sequence[Any]) -> Any:
        if inside.get():  # a half of a refused batch: the outer call logs the batch
            return await original(self, items)
        token = inside.set(True)
        t0 = time.monotonic()
        try:
            result = await original(self, items)
        finally:
            inside.reset(token)
        out.write(f"{t0:.6f} {time.monotonic():.6f} {len(items)}\n")
        return result

    messages.MessageRepository.write_batch = write_batch  # type: ignore[method-assign]
    return out


def read_batch_log(
    path: Path, since: float = 0.0, until: float = float("inf")
) -> list[tuple[float, float, int]]:
    """(start, end, size) of the batches that started within [since, until]."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        try:
            t0, t1, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            continue
        if since <= t0 <= until:
            out.append((t0, t1, n))
    return out


def main() -> int:
    path = os.environ.get("BENCH_BATCH_LOG")
    if path:
        install(path)
    from stompim.cli import main as stompim_main

    return stompim_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
