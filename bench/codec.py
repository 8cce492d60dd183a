"""Codec micro-benchmark: stompim.frames vs stomp.py on the same bytes.

Run from the repository root, under the shared benchmark lock::

    flock /work/.bench.lock .venv/bin/python -m bench codec    # ~1.5 s per case
    .venv/bin/python -m bench.codec --quick                      # ~0.3 s per case

(``python -m bench codec`` runs this module and lifts its ratios into
bench/results/README.md.)

Cases, each for a small (100 B body) and a large (64 KiB body) MESSAGE frame with six
realistic headers (64 distinct frames, cycled, so no two consecutive inputs are equal):

* parse, stomp.py: ``stomp.utils.parse_frame(frame_without_nul)`` per frame.  That is
  what stomp.py's transport calls once it has cut one frame out of its receive buffer
  at the NUL (the cutting itself is not counted in stomp.py's favour or against it).
* parse, ours single: ``FrameParser.feed(one_frame_with_nul)`` per frame.
* parse, ours stream: ``FrameParser.feed(chunk)`` where the chunk holds many frames
  back to back (what a busy TCP read looks like: all 64 small frames, or 2 large
  ones); reported per frame.
* floor, body copy: only ``data[body_start:body_end]`` per frame, the one copy of the
  body that any parser handing out ``bytes`` must make (stomp.py makes it too).  For
  64 KiB bodies it is a large share of both parsers' time, which bounds the ratio.
* encode, stomp.py: ``pack(convert_frame(Frame(cmd, headers, body)))`` per frame.
* encode, ours: ``encode(Frame(...), "1.2")`` per frame (ours also escapes headers,
  which stomp.py does not do when sending).
* encode, ours template: ``MessageTemplate.render(per_subscriber_headers)`` per
  subscriber, the broker's fan-out path (template built once per 64 renders).

Fairness: every parse case gets the same 64 frames (the same bytes; stomp.py's
copy lacks only the NUL its transport cuts off, which gives stomp.py the frame
splitting for free), counts the frames it really got back, and must return the same
command, headers and body as the other parser for every one of them
(:func:`_check_same_result`).  All cases of a size run in one process, round-robin in
batches for a bounded time, so drifts in machine speed hit all of them alike; each
reports its median batch rate.  Ratios are ours / stomp.py in frames per second (higher
is better for us); the stream ratio divides by stomp.py's per-frame rate, since
stomp.py has no incremental parser to feed a chunk to.  The load average before and
after the run is recorded: other work on the machine moves every figure.  Results go
to bench/results/codec.json and bench/results/codec.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import stomp.utils as stomp_utils

from stompim.frames import Command, Frame, FrameParser, Limits, MessageTemplate, encode

RESULTS = Path(__file__).resolve().parent / "results"
DISTINCT = 64


def _headers(index: int, size: int) -> list[tuple[str, str]]:
    return [
        ("destination", "/topic/chat.group.4711"),
        ("message-id", f"m-{1_000_000 + index}"),
        ("subscription", "sub-0"),
        ("content-type", "application/json;charset=utf-8"),
        ("x-seq", str(52_000 + index)),
        ("content-length", str(size)),
    ]


def _frames(size: int) -> list[Frame]:
    body_unit = b'{"text":"hello there","from":"alice"}'
    body = (body_unit * (size // len(body_unit) + 1))[:size]
    return [Frame(Command.MESSAGE, tuple(_headers(i, size)), body) for i in range(DISTINCT)]


def _measure(cases: dict[str, Callable[[], int]], seconds: float) -> dict[str, float]:
    """Median frames/s per case, running the cases round-robin for about ``seconds``
    per case (at least 5 rounds), so that drifts in machine speed hit all alike."""
    for batch in cases.values():
        batch()  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in cases}
    deadline = time.perf_counter() + seconds * len(cases)
    rounds = 0
    while rounds < 5 or (time.perf_counter() < deadline and rounds < 2000):
        for name, batch in cases.items():
            began = time.perf_counter()
            count = batch()
            rates[name].append(count / (time.perf_counter() - began))
        rounds += 1
    return {name: statistics.median(values) for name, values in rates.items()}


def _cases(size: int, reps: int) -> dict[str, Callable[[], int]]:
    frames = _frames(size)
    wire = [encode(frame) for frame in frames]
    without_nul = [data[:-1] for data in wire]
    # One chunk of back-to-back frames: all 64 small ones (~14 KB), or 2 large ones
    # (128 KiB, a big TCP read).  Holding 64 bodies of 64 KiB at once would mostly
    # measure the kernel's page faults on fresh memory, not the parser.
    per_chunk = DISTINCT if size < 4096 else 2
    chunks = [b"".join(wire[i : i + per_chunk]) for i in range(0, DISTINCT, per_chunk)]
    limits = Limits(max_frame_size=1 << 20)
    parse_frame = stomp_utils.parse_frame
    convert_frame, pack, StompFrame = (
        stomp_utils.convert_frame,
        stomp_utils.pack,
        stomp_utils.Frame,
    )
    header_dicts = [dict(frame.headers) for frame in frames]
    subscriber_headers = [
        (("subscription", f"sub-{i}"), ("message-id", f"m-{i}"), ("ack", f"a-{i}"))
        for i in range(DISTINCT)
    ]
    shared = frames[0].headers[:1] + frames[0].headers[3:]
    body = frames[0].body

    def parse_stomp() -> int:
        total = 0
        for _ in range(reps):
            for data in without_nul:
                total += parse_frame(data) is not None
        assert total == reps * DISTINCT
        return total

    def parse_single() -> int:
        parser = FrameParser(limits)
        total = 0
        for _ in range(reps):
            for data in wire:
                total += len(parser.feed(data))
        assert total == reps * DISTINCT and parser.error is None
        return total

    body_spans = [(len(data) - size - 1, len(data) - 1) for data in wire]

    def body_copy() -> int:
        for _ in range(reps):
            for data, (start, stop) in zip(wire, body_spans, strict=True):
                data[start:stop]
        return reps * DISTINCT

    def parse_stream() -> int:
        parser = FrameParser(limits)
        total = 0
        for _ in range(reps):
            for chunk in chunks:
                total += len(parser.feed(chunk))
        assert total == reps * DISTINCT and parser.error is None
        return total

    def encode_stomp() -> int:
        for _ in range(reps):
            for frame, headers in zip(frames, header_dicts, strict=True):
                pack(convert_frame(StompFrame("MESSAGE", dict(headers), frame.body)))
        return reps * DISTINCT

    def encode_ours() -> int:
        for _ in range(reps):
            for frame in frames:
                encode(Frame(Command.MESSAGE, frame.headers, frame.body), "1.2")
        return reps * DISTINCT

    def encode_template() -> int:
        for _ in range(reps):
            template = MessageTemplate(shared, body, "1.2")
            for headers in subscriber_headers:
                template.render(headers)
        return reps * DISTINCT

    return {
        "parse/stomp.py": parse_stomp,
        "parse/ours single": parse_single,
        "parse/ours stream": parse_stream,
        "floor/body copy": body_copy,
        "encode/stomp.py": encode_stomp,
        "encode/ours": encode_ours,
        "encode/ours template": encode_template,
    }


def _check_same_result() -> None:
    """Both parsers must agree on every benchmark frame, or the comparison is void."""
    for size in (100, 65536):
        frames = _frames(size)
        wire = [encode(frame) for frame in frames]
        stream = FrameParser(Limits(max_frame_size=1 << 20)).feed(b"".join(wire))
        assert stream == frames
        for frame, data in zip(frames, wire, strict=True):
            theirs = stomp_utils.parse_frame(data[:-1])
            (ours,) = FrameParser(Limits(max_frame_size=1 << 20)).feed(data)
            assert ours == frame
            assert theirs.cmd == ours.command.value and theirs.body == ours.body
            assert theirs.headers == dict(ours.headers)


def _parent_command() -> str | None:
    """The command line of the process that started this one, when it is
    ``python -m bench ...`` (so the results name the command that was really typed)."""
    try:
        args = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().decode().split("\0")
    except (OSError, UnicodeDecodeError):
        return None
    args = [arg for arg in args if arg]
    if "-m" not in args or args[args.index("-m") + 1 :][:1] != ["bench"]:
        return None
    return "python " + " ".join(args[args.index("-m") :])


TARGET = 4.0


def _verdicts(ratios: dict[str, dict[str, float]]) -> list[str]:
    """Markdown rows: each parse ratio against the 4x target, pass or miss and by how much."""
    rows = []
    for label, values in ratios.items():
        for name in ("parse single / stomp.py", "parse stream / stomp.py"):
            value = values[name]
            verdict = "pass" if value >= TARGET else f"miss by {TARGET - value:.2f}x"
            rows.append(f"| {label} | {name} | {value:.2f} | >= {TARGET:.0f}x | {verdict} |")
    return rows


def _load() -> str:
    """The 1-minute load average, or "unknown"."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 0.3 s per case")
    parser.add_argument("--seconds", type=float, default=None, help="time per case")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (0.3 if args.quick else 1.5)
    _check_same_result()

    load_before = _load()
    results: dict[str, dict[str, float]] = {}
    for label, size, reps in (("small", 100, 4), ("large", 65536, 1)):
        results[label] = _measure(_cases(size, reps), seconds)
    load_after = _load()

    ratios: dict[str, dict[str, float]] = {}
    for label, rates in results.items():
        ratios[label] = {
            "parse single / stomp.py": rates["parse/ours single"] / rates["parse/stomp.py"],
            "parse stream / stomp.py": rates["parse/ours stream"] / rates["parse/stomp.py"],
            # What a parser that did nothing but copy the body would reach.
            "body copy alone / stomp.py": rates["floor/body copy"] / rates["parse/stomp.py"],
            "encode / stomp.py": rates["encode/ours"] / rates["encode/stomp.py"],
            "encode template / stomp.py": rates["encode/ours template"] / rates["encode/stomp.py"],
        }

    import stomp

    machine = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "stomp.py": ".".join(map(str, stomp.__version__))
        if isinstance(stomp.__version__, tuple)
        else str(stomp.__version__),
    }
    command = ".venv/bin/python -m bench.codec" + (" --quick" if args.quick else "")
    if args.seconds is not None:
        command += f" --seconds {args.seconds}"
    parent = _parent_command()
    report = {
        "command": command,
        "run_by": parent,
        "seconds_per_case": seconds,
        "machine": machine,
        "frames_per_second": results,
        "ratios_ours_over_stomp_py": ratios,
        "load_average_1min": {"before": load_before, "after": load_after},
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

    lines = [
        "# Codec benchmark: stompim.frames vs stomp.py",
        "",
        f"Command: `{command}` (median batch rate, ~{seconds} s per case)"
        + (f", run by `{parent}`" if parent else "")
        + "  ",
        (
            f"Machine: {machine['platform']}, {machine['implementation']} "
            f"{machine['python']}, {machine['cpu_count']} CPUs; stomp.py {machine['stomp.py']}  "
        ),
        f"When: {report['when']}; load average (1 min) before {load_before}, after {load_after}",
        "",
        "| body | case | frames/s |",
        "| --- | --- | ---: |",
    ]
    for label, rates in results.items():
        for name, rate in rates.items():
            lines.append(f"| {label} | {name} | {rate:,.0f} |")
    lines += ["", "| body | ratio (ours / stomp.py) | x |", "| --- | --- | ---: |"]
    for label, values in ratios.items():
        for name, value in values.items():
            lines.append(f"| {label} | {name} | {value:.2f} |")
    lines += [
        "",
        "| body | parse ratio | x | target | result |",
        "| --- | --- | ---: | --- | --- |",
        *_verdicts(ratios),
    ]
    lines += [
        "",
        "small = 100-byte body, large = 64 KiB body; MESSAGE frames with six headers.",
        "stomp.py's parse_frame gets one frame without its NUL (as its transport does);",
        "ours single = one feed() per frame, ours stream = one feed() per chunk of 64 small or",
        "2 large frames; the stream ratio divides by stomp.py's per-frame rate.",
        "Every case parses the same 64 distinct frames and counts what it got back.",
        "`python -m bench codec` runs exactly the command above (bench/scenarios/codec_run.py).",
        '"body copy alone" is the ratio of a parser that only copied the body out: with 64 KiB',
        "bodies it bounds what any parser handing out bytes can reach (see codec-profile.md).",
        "stomp.py's encoder neither escapes headers nor keeps their order; ours does both.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "codec.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "codec.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
