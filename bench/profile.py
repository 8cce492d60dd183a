"""Summaries of py-spy raw profiles (collapsed stacks) taken of stompim under load.

py-spy `--format raw` writes one line per distinct stack: `frame;frame;... count`,
each frame `function (path:line)`. Self time is the innermost frame; inclusive time
counts a function once per stack it appears in. Idle samples are already excluded by
py-spy (no `--idle`), so percentages are of busy samples.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

# frames every stack shares (interpreter start-up, CLI, the event loop runner)
_WRAPPERS = ("<frozen", "asyncio/runners.py", "stompim/cli.py", "stompim/__main__.py",
             "bench/stompim_counted.py",
             "asyncio/base_events.py", "asyncio/events.py", "uvloop")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("/stompim/", "site-packages/", "/lib/python3."):
        i = path.find(marker)
        if i >= 0:
            path = path[i + 1:] if marker == "/stompim/" else path[i + len(marker):]
            break
    return f"{path}:{m.group('func')}"


def summarize(
    path: Path, top: int = 15
) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [
            _name(f)
            for f in stack.split(";")
            if f and not f.startswith("process ") and not f.startswith("thread ")
        ]
        if not frames:
            continue
        total += n
        self_c[frames[-1]] += n
        for f in set(frames):
            if not f.startswith(_WRAPPERS):
                incl[f] += n

    def pct(c):
        return [(k, round(100 * v / total, 1)) for k, v in c.most_common(top)]

    return total, pct(self_c), pct(incl) if total else []


def summarize_all(directory: Path) -> str:
    lines = ["# stompim hot spots under load (py-spy, busy samples only)", ""]
    for p in sorted(directory.glob("*.txt")):
        try:
            total, selfs, incl = summarize(p)
        except OSError:
            continue
        lines += [f"## {p.stem} ({total} samples)", "", "| self % | function |", "| ---: | --- |"]
        lines += [f"| {v} | `{k}` |" for k, v in selfs]
        lines += ["", "| inclusive % | function |", "| ---: | --- |"]
        lines += [f"| {v} | `{k}` |" for k, v in incl]
        lines.append("")
    text = "\n".join(lines) + "\n"
    if directory.exists():
        (directory / "summary.md").write_text(text)
    return text
