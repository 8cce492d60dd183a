"""JSON request bodies on the event loop: how long the REST edge's decoder holds it.

Run from the repository root::

    .venv/bin/python -m bench.json_decode            # ~20 s
    .venv/bin/python -m bench.json_decode --quick    # ~5 s

The REST edge decodes a JSON body with pydantic's parser into the endpoint's model
(stompim/http/inputs.py).  This measures the worst bodies an attacker can send at a few
sizes, through the real GroupCreation model:

* unknown: an ignored property holding an array of small objects (the parser still
  builds every one of them before the model drops it);
* bad ids: memberIds as a long array of strings that are not integers (one error per
  item would be built without fail_fast; with it the first ends validation, but the
  whole array is parsed first);
* long string: one big string property.

Then, for the largest body, the longest stall of the event loop while bodies are decoded
inline vs in a worker thread (asyncio.to_thread): a ticker task records the gaps between
its turns.  pydantic-core holds the GIL while it parses, so a thread does not shorten the
stall; what bounds it is the size cap (http.max_json_bytes).  Results go to
bench/results/json_decode.json and bench/results/json_decode.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pydantic
from pydantic import ValidationError

from stompim.http.models.group import GroupCreation

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024)


def _unknown(size: int) -> bytes:
    item = b'{"k": [1, 2, 3]}'
    return b'{"name": "g", "junk": [' + b",".join([item] * (size // (len(item) + 1))) + b"]}"


def _bad_ids(size: int) -> bytes:
    return b'{"name": "g", "memberIds": [' + b",".join([b'"x"'] * (size // 4)) + b"]}"


def _long_string(size: int) -> bytes:
    return b'{"name": "' + b"n" * size + b'"}'


BODIES: dict[str, Callable[[int], bytes]] = {
    "unknown": _unknown,
    "bad ids": _bad_ids,
    "long string": _long_string,
}


def _decode(raw: bytes) -> None:
    with contextlib.suppress(ValidationError):
        GroupCreation.model_validate_json(raw)


def _time_ms(raw: bytes, seconds: float) -> float:
    """Median milliseconds of one decode, over repeated runs for `seconds`."""
    runs: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(runs) < 5:
        start = time.perf_counter()
        _decode(raw)
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


async def _stall_ms(raw: bytes, threaded: bool, rounds: int) -> float:
    """The longest gap between two turns of a ticker task while `rounds` bodies decode."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    for _ in range(rounds):
        if threaded:
            await asyncio.to_thread(_decode, raw)
        else:
            _decode(raw)
            await asyncio.sleep(0)
    done.set()
    await task
    return max(gaps) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args(argv)
    seconds = 0.3 if args.quick else 1.5
    rounds = 5 if args.quick else 20
    decode_ms = {
        name: {str(size): _time_ms(make(size), seconds) for size in SIZES}
        for name, make in BODIES.items()
    }
    worst = _unknown(SIZES[-1])
    stall_ms = {
        "inline": asyncio.run(_stall_ms(worst, False, rounds)),
        "thread": asyncio.run(_stall_ms(worst, True, rounds)),
    }
    command = ".venv/bin/python -m bench.json_decode" + (" --quick" if args.quick else "")
    machine = (
        f"{platform.platform()}, CPython {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"pydantic {pydantic.VERSION}"
    )
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "json_decode.json").write_text(json.dumps({
        "command": command, "machine": machine, "when": when,
        "decode_ms": decode_ms, "loop_stall_ms_1MiB_unknown": stall_ms,
    }, indent=2) + "\n")
    lines = [
        "# JSON request bodies: decode time on the event loop",
        "",
        f"Command: `{command}` (median of repeated decodes)  ",
        f"Machine: {machine}  ",
        f"When: {when}",
        "",
        "| body | " + " | ".join(f"{s // 1024} KiB" for s in SIZES) + " |",
        "| --- |" + " ---: |" * len(SIZES),
    ]
    for name, by_size in decode_ms.items():
        lines.append(f"| {name} | " + " | ".join(f"{by_size[str(s)]:.2f} ms" for s in SIZES)
                     + " |")
    lines += [
        "",
        f"Longest event-loop stall while {rounds} bodies of 1 MiB ('unknown') decode: "
        f"inline {stall_ms['inline']:.1f} ms, in a worker thread {stall_ms['thread']:.1f} ms.",
        "",
        "pydantic-core holds the GIL while it parses, so a thread does not shorten the stall.",
        "The cap does: http.max_json_bytes (64 KiB by default; the largest legitimate body, a",
        "500-id member list, is ~10 KB) bounds one body to the 64 KiB column, whatever",
        "http.max_body_bytes allows for uploads.",
        "",
    ]
    (RESULTS / "json_decode.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
