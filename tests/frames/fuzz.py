"""Fuzzing the STOMP frame codec: mutated and random input, random chunking.

Long run (documented in README.md, "Fuzzing"), from the repository root::

    .venv/bin/python -m tests.frames.fuzz --frames 1000000            # 8 min of CPU
    .venv/bin/python -m tests.frames.fuzz --frames 20000 --seed 7     # a quick one

(1,000,000 inputs took 8 minutes of CPU, 19 minutes of wall time on the shared 2-core
machine, seed 914720708: no failure.)  tests/frames/fuzz_atheris.py runs the same
checks under libFuzzer's coverage guidance, for those who install atheris.

It prints the inputs tried, frames parsed, errors by class and the wall time, and
exits 1 on the first failed invariant, printing the input (as a Python literal) and
the seed that reproduce it.  The CI-bounded version of the same checks is
tests/frames/test_fuzz.py (hypothesis drives the seed there).

What every input must do, fed to a :class:`FrameParser` in random chunks
(:func:`check`):

* ``feed`` never raises; it ends in frames, or in ``parser.error`` set to a
  :class:`RemoteProtocolError` (typed), and later feeds return nothing;
* every frame is a well-typed :class:`Frame` within the limits;
* what the parser holds between feeds never exceeds ``max_frame_size`` bytes (plus a
  lone CR), and the buffer's allocation never exceeds that by more than the 1/8
  over-allocation of ``bytearray``;
* the same input fed whole, in other random chunks and byte at a time gives the same
  frames and the same verdict (error or not); with limits out of reach, the same error
  class and message too;
* no input takes more than ``--timeout`` seconds (a hang or a quadratic blow-up).

Reusable pieces (the broker's session fuzz builds on them): :func:`seed_corpus`
(valid frames of every command and version, LF and CRLF, with and without
content-length) and :func:`mutations` (an endless stream of mutated byte strings
from any corpus).  Both are deterministic for a given ``random.Random``.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import FrameType

from stompim.frames import (
    Command,
    Frame,
    FrameParser,
    Limits,
    RemoteProtocolError,
    encode,
)
from stompim.frames.commands import SUPPORTED_VERSIONS, UNESCAPED_COMMANDS

__all__ = [
    "LIMITS_CHOICES",
    "Outcome",
    "check",
    "main",
    "mutate",
    "mutations",
    "parse",
    "seed_corpus",
]

#: Limits the fuzz cycles through: generous ones (where only bad syntax fails, so
#: whole and chunked parses must agree exactly) and tight ones (where limits fail).
LIMITS_CHOICES: tuple[Limits, ...] = (
    Limits(max_frame_size=1 << 24, max_headers=10_000, max_header_length=1 << 20),
    Limits(max_frame_size=256, max_headers=4, max_header_length=48),
    Limits(max_frame_size=4096, max_headers=16, max_header_length=512),
)

_BAD_UTF8 = (b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80")
_BAD_ESCAPES = (b"\\t", b"\\", b"\\x", b"\\r", b"\\\\\\", b"\\c\\")
_LENGTHS = (
    b"-1",
    b"",
    b"x",
    b"1.5",
    b"+3",
    b" 3",
    b"3 ",
    b"0x10",
    b"\xd9\xa3",
    b"99999999999",
    b"0" * 40 + b"1",
    b"9" * 5000,
    b"18446744073709551617",
    b"0",
    b"1",
    b"4096",
    b"65536",
)
_TOKENS = (
    b"\x00",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\r\n\r\n",
    b"\n\r\n",
    b":",
    b"::",
    b"content-length:",
    b"SEND\n",
    b"MESSAGE\r\n",
    b"CONNECT\n",
    b"x:a\\nb\n",
    b"\\c",
)


def seed_corpus() -> list[bytes]:
    """Valid wire frames: every command in every version, LF and CRLF line ends,
    with and without content-length, bodies with NUL, LF LF and CRLF CRLF."""
    bodies = (b"", b"hello", b"a\n\nb", b"\r\n\r\n", b"\x00\x01\xff", b"x" * 300)
    corpus: list[bytes] = []
    for version in SUPPORTED_VERSIONS:
        for index, command in enumerate(Command):
            escaped = version != "1.0" and command not in UNESCAPED_COMMANDS
            headers = [("destination", f"/queue/q{index}"), ("receipt", "r-1")]
            if escaped:
                headers.append(("k:ey", "va\\lue\nwith:escapes"))
            body = bodies[index % len(bodies)]
            data = encode(Frame(command, tuple(headers), body), version)
            corpus.append(data)
            head, _, rest = data.partition(b"\n\n")
            corpus.append(head.replace(b"\n", b"\r\n") + b"\r\n\r\n" + rest)  # CRLF
            if b"\x00" not in body:
                lines = [line for line in head.split(b"\n") if b"content-length" not in line]
                corpus.append(b"\n".join(lines) + b"\n\n" + rest)  # no content-length
    corpus.append(b"\n\r\n\n")  # heart-beats alone
    return corpus


def mutate(data: bytes, rng: random.Random, corpus: Sequence[bytes]) -> bytes:
    """One to four random edits of ``data``: bytes flipped, inserted (NUL, CR, LF,
    bad UTF-8, bad escapes) or deleted, ranges duplicated or cut, content-length
    values replaced, other frames spliced in, line ends swapped, heads padded."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(out))
        kind = rng.randrange(14)
        if kind == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif kind == 1:
            out[at:at] = bytes([rng.randrange(256)])
        elif kind == 2:
            out[at:at] = rng.choice(_TOKENS)
        elif kind == 3:
            out[at:at] = rng.choice(_BAD_UTF8)
        elif kind == 4:
            out[at:at] = rng.choice(_BAD_ESCAPES)
        elif kind == 5 and out:
            del out[at : at + rng.randint(1, 16)]
        elif kind == 6 and out:
            cut = rng.randint(at, min(len(out), at + 64))
            out[at:at] = out[at:cut]  # duplicate a range
        elif kind == 7:
            found = out.find(b"content-length:")
            if found >= 0:
                value_end = out.find(b"\n", found)
                value_end = len(out) if value_end < 0 else value_end
                out[found + 15 : value_end] = rng.choice(_LENGTHS)
            else:
                out[at:at] = b"\ncontent-length:" + rng.choice(_LENGTHS)
        elif kind == 8:
            other = rng.choice(corpus)
            start = rng.randint(0, len(other))
            out[at:at] = other[start : start + rng.randint(1, 200)]
        elif kind == 9:
            out = bytearray(out[:at])  # truncate
        elif kind == 10:
            out += rng.choice(corpus)  # frames back to back
        elif kind == 11:
            old, new = rng.choice(((b"\n", b"\r\n"), (b"\r\n", b"\n"), (b"\n", b"\r")))
            out = bytearray(out.replace(old, new, rng.randint(1, 3)))
        elif kind == 12:
            line = b"h" * rng.choice((40, 600, 70_000)) + b":v\n"
            out[at:at] = line * rng.choice((1, 2, 70))  # long lines, many headers
        else:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    return bytes(out)


def mutations(
    corpus: Sequence[bytes], rng: random.Random, count: int | None = None
) -> Iterator[bytes]:
    """Mutated byte strings from ``corpus`` (``count`` of them, or endless).

    One in sixteen is random bytes and tokens with no seed behind it; the rest are
    :func:`mutate` of a corpus entry, sometimes of two entries back to back.
    """
    produced = 0
    while count is None or produced < count:
        if rng.randrange(16) == 0:
            data = b"".join(
                rng.choice(_TOKENS) if rng.randrange(2) else rng.randbytes(rng.randint(0, 24))
                for _ in range(rng.randint(0, 12))
            )
        else:
            data = rng.choice(corpus)
            if rng.randrange(4) == 0:
                data += rng.choice(corpus)
            data = mutate(data, rng, corpus)
        yield data
        produced += 1


@dataclass(frozen=True, eq=False)
class Outcome:
    """What a parser made of a whole input; compare with :meth:`verdict` or :meth:`exact`
    (errors are objects without value equality)."""

    frames: tuple[Frame, ...]
    error: RemoteProtocolError | None
    heartbeats: int
    buffered: int

    def verdict(self) -> tuple[tuple[Frame, ...], bool]:
        """What every chunking must agree on, whatever the limits."""
        return self.frames, self.error is None

    def exact(self) -> tuple[object, ...]:
        """What every chunking must agree on when the limits are out of reach."""
        error = None if self.error is None else (type(self.error), self.error.message)
        return self.frames, error, self.heartbeats, self.buffered


def parse(data: bytes, cuts: Sequence[int], limits: Limits, version: str = "1.2") -> Outcome:
    """Feed ``data`` split at ``cuts`` (sorted offsets), checking the per-feed invariants."""
    parser = FrameParser(limits, version)
    frames: list[Frame] = []
    bound = limits.max_frame_size + 1
    previous = 0
    for cut in [*cuts, len(data)]:
        if cut < previous:
            continue
        got = parser.feed(data[previous:cut])
        previous = cut
        if parser.error is not None:
            assert isinstance(parser.error, RemoteProtocolError), repr(parser.error)
            assert parser.buffered == 0
        for frame in got:
            assert type(frame) is Frame and type(frame.command) is Command
            assert type(frame.body) is bytes and type(frame.headers) is tuple
            assert all(type(n) is str and type(v) is str for n, v in frame.headers)
            assert len(frame.body) <= limits.max_frame_size
            assert len(frame.headers) <= limits.max_headers
        frames += got
        assert parser.buffered <= bound, (parser.buffered, bound)
        allocated = sys.getsizeof(parser._buf)  # the buffer's allocation, header included
        assert allocated <= bound + bound // 8 + 128, (allocated, bound)
    return Outcome(tuple(frames), parser.error, parser.heartbeats, parser.buffered)


def _random_cuts(data: bytes, rng: random.Random) -> list[int]:
    if not data:
        return []
    return sorted(rng.randint(0, len(data)) for _ in range(rng.randint(1, 8)))


def check(data: bytes, rng: random.Random, limits: Limits, version: str = "1.2") -> Outcome:
    """All invariants of the module docstring for one input; returns the whole parse."""
    whole = parse(data, [], limits, version)
    chunked = parse(data, _random_cuts(data, rng), limits, version)
    others = [chunked]
    if len(data) <= 512:
        others.append(parse(data, list(range(1, len(data))), limits, version))
    for other in others:
        if limits is LIMITS_CHOICES[0]:
            assert other.exact() == whole.exact(), (other.exact(), whole.exact())
        else:
            assert other.verdict() == whole.verdict(), (other.verdict(), whole.verdict())
    return whole


class _Timeout(Exception):
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Timeout


def main(argv: list[str] | None = None) -> int:
    """The long run: see the module docstring."""
    options = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    options.add_argument("--frames", type=int, default=1_000_000, help="inputs to try")
    options.add_argument("--seed", type=int, default=None, help="default: random")
    options.add_argument("--timeout", type=float, default=5.0, help="seconds per input")
    args = options.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    rng = random.Random(seed)
    corpus = seed_corpus()
    errors: Counter[str] = Counter()
    parsed = 0
    began = time.perf_counter()
    signal.signal(signal.SIGALRM, _on_alarm)
    print(f"fuzz: seed {seed}, {args.frames:,} inputs, corpus of {len(corpus)} frames")
    for index, data in enumerate(mutations(corpus, rng, args.frames)):
        limits = LIMITS_CHOICES[index % len(LIMITS_CHOICES)]
        version = rng.choice(SUPPORTED_VERSIONS)
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
        try:
            outcome = check(data, rng, limits, version)
        except Exception as exc:  # any failed check, a timeout, or a crash
            signal.setitimer(signal.ITIMER_REAL, 0)
            what = "took too long" if isinstance(exc, _Timeout) else f"failed: {exc!r}"
            print(f"fuzz: input {index} (seed {seed}, {limits}, STOMP {version}) {what}")
            print(f"input = {data!r}")
            return 1
        signal.setitimer(signal.ITIMER_REAL, 0)
        parsed += len(outcome.frames)
        errors[type(outcome.error).__name__ if outcome.error else "none"] += 1
        if (index + 1) % 100_000 == 0:
            print(f"fuzz: {index + 1:,} inputs, {time.perf_counter() - began:.0f} s", flush=True)
    elapsed = time.perf_counter() - began
    print(
        f"fuzz: OK, {args.frames:,} inputs ({parsed:,} frames parsed) in {elapsed:.1f} s, "
        f"seed {seed}; outcome by error class: {dict(errors.most_common())}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
