"""`python -m bench.hostile`: the hostile floods' RSS figures as JSON for the report.

tests/hostile/test_memory.py floods a node (its own process, SQLite) and asserts that the
node's RSS stays under what its budgets allow; it prints what it saw. This runs that test
module once (`pytest tests/hostile/test_memory.py -s`), reads the printed figures and
writes them with the tests' bounds and outcome to bench/results/hostile.json, so the
report's table carries them (bench/results/hostile.md tells how the floods are built).

The bounds below are the test's asserts (its MIB, SLACK = 24 MiB, AFTER = 12 MiB and
each test's budget): keep them in step with tests/hostile/test_memory.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SLACK, AFTER = 24.0, 12.0
BOUNDS = {  # flood label -> (peak bound MiB, after bound MiB), from the test's asserts
    "preauth stream": (12 * 1.25 + SLACK, SLACK),
    "preauth partial tcp": (32 + SLACK + 8, AFTER),
    "preauth partial ws": (32 + SLACK + 8, AFTER),
    "queues": (16 + SLACK, AFTER),
}
_LINE = re.compile(r"^\[(?P<label>[^\]]+)\] (?P<text>.*)$")
_PEAK = re.compile(r"peak \+(?P<v>[\d.]+) MiB")
_AFTER = re.compile(r"(?:after(?: the TTL)?|after they left) \+(?P<v>[\d.]+) MiB")
_REST = re.compile(r"RSS (?P<v>[\d.]+) MiB")


def parse(output: str) -> list[dict[str, Any]]:
    """The floods' figures from the test's printed lines, one dict per flood label."""
    floods: dict[str, dict[str, Any]] = {}
    for line in output.splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        label, text = m["label"], m["text"]
        f = floods.setdefault(label, {"flood": label, "lines": []})
        f["lines"].append(text)
        for key, rx in (("peak_mib", _PEAK), ("after_mib", _AFTER), ("rest_mib", _REST)):
            hit = rx.search(text)
            if hit and key not in f:
                f[key] = float(hit["v"])
    for label, f in floods.items():
        peak, after = BOUNDS.get(label, (None, None))
        f["peak_bound_mib"], f["after_bound_mib"] = peak, after
    return list(floods.values())


def main() -> int:
    cmd = [sys.executable, "-m", "pytest", "tests/hostile/test_memory.py", "-q", "-s",
           "-p", "no:cacheprovider"]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    out = {
        "command": "python -m bench.hostile",
        "runs": " ".join(cmd[2:]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.monotonic() - t0, 1),
        "tests_passed": r.returncode == 0,
        "summary": (r.stdout.strip().splitlines() or [""])[-1],
        "floods": parse(r.stdout),
    }
    path = ROOT / "bench" / "results" / "hostile.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0 if r.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
