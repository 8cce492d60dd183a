"""Fuzzing the sans-I/O Session: random and mutated frames, random chunking, random
answers to its events.

Long run (documented in README.md, "Fuzzing"), from the repository root::

    .venv/bin/python -m tests.broker.session_fuzz --frames 1000000
    .venv/bin/python -m tests.broker.session_fuzz --frames 20000 --seed 7   # a quick one

The CI-bounded version is tests/broker/test_session_fuzz.py (hypothesis picks the
seeds).  One *case* is one Session: a CONNECT (valid, or one of the mutated frames),
then 1 to 40 frames, each valid from the codec's seed corpus (tests/frames/fuzz.py,
with destinations the broker serves swapped in) or mutated by its mutator, all cut
into random chunks and fed in order, the session's events answered at random like a
broker would (accepted or refused logins, subscriptions, stored or refused SENDs,
throttles lifted), sometimes with the transport lost half-way.  A frame counts as
tried when its first byte reached the session (a session that closed on a bad frame
reads nothing after it).

What every case must do (`run_case`):

* no call into the session raises; nothing takes more than ``--timeout`` seconds;
* every byte the session writes parses as STOMP; no ERROR says "internal error";
* nothing is written after an ERROR, and an ERROR is followed by a Close event;
* a receipt id is answered (RECEIPT, or the ERROR that closes) at most as many times
  as frames asked for it (the corpus' receipts are renumbered after mutation, so a
  mutation that copies a frame makes the only repeats);
* what the session holds is bounded: the parser's partial frame within
  ``max_frame_size``, the backlog within MAX_BACKLOG frames;
* a frame the codec refused ends the session: once every event is answered, a session
  whose parser failed is no longer open (it sent ERROR and closed, or it had already
  begun to leave on a DISCONNECT read before the bad frame).
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

try:
    from frames.fuzz import mutations, seed_corpus
except ImportError:   # run as `python -m tests.broker.session_fuzz` from the repository root
    from tests.frames.fuzz import mutations, seed_corpus

from stompim.broker.context import MAX_BACKLOG
from stompim.broker.events import (
    Authenticate,
    AuthorizeSubscribe,
    BeginSend,
    Close,
    PauseReading,
    SessionEvent,
)
from stompim.broker.states import State
from stompim.errors import INTERNAL_ERROR_MESSAGE, Refusal, Unavailable
from stompim.frames import Command, Frame, FrameParser

from .sessionkit import ALICE, World, frame_bytes

__all__ = ["CaseResult", "corpus", "main", "run_case"]

DESTINATIONS = (b"/topic/t", b"/queue/q", b"/topic/chat/9", b"/app/chat/private",
                b"/user/queue/x", b"/queue/chat/1", b"/nowhere")
LIMITS = {"max_frame_size": 64 * 1024, "max_headers": 16, "max_header_length": 1024,
          "max_transactions": 3, "max_transaction_frames": 8,
          "max_transaction_bytes": 32 * 1024, "max_queue_bytes": 64 * 1024,
          "max_queues_total_bytes": 256 * 1024, "max_queues": 8}


def corpus() -> list[bytes]:
    """The codec's seed corpus with destinations the broker serves (its own are
    /queue/q<N>, which the broker serves too)."""
    base = seed_corpus()
    out = list(base)
    rng = random.Random(0)
    for data in base:
        if b"/queue/q" in data:
            out.append(data.replace(b"/queue/q", rng.choice(DESTINATIONS), 1))
    return out


@dataclass
class CaseResult:
    frames_tried: int = 0
    written: int = 0
    outcome: str = ""
    receipts: Counter[str] = field(default_factory=Counter)


class _Check(AssertionError):
    pass


class _Driver:
    """One session and the broker's part, played at random."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.world = World(**LIMITS)
        self.peer = self.world.peer()
        self.session = self.peer.session
        self.parser = FrameParser()
        self.out: list[Frame] = []
        self.errored = False
        self.closed = False
        self.owed: list[SessionEvent] = []
        self.paused = False
        self.result = CaseResult()

    # ------------------------------------------------------------------ output

    def collect(self) -> None:
        session = self.session
        for event in session.events():
            if isinstance(event, Close):
                self.closed = True
            elif isinstance(event, PauseReading):
                if event.throttle:
                    self.owed.append(event)
            elif isinstance(event, Authenticate | AuthorizeSubscribe | BeginSend):
                self.owed.append(event)
        data = b"".join(chunk for chunk, _ in session.data_to_send())
        if data:
            if self.errored:
                raise _Check(f"output after ERROR: {data[:200]!r}")
            self.parser.version = session.version   # output after CONNECTED is in it
            frames = self.parser.feed(data)
            if self.parser.error is not None:
                raise _Check(f"unparsable output: {self.parser.error}: {data[:200]!r}")
            for frame in frames:
                self._check_frame(frame)
        if self.errored and not self.closed and session.state is not State.CLOSED:
            raise _Check("ERROR without Close")
        if self.session.parser.buffered > LIMITS["max_frame_size"] + 1:
            raise _Check(f"parser holds {self.session.parser.buffered} bytes")
        backlog = self.session.backlog
        if backlog is not None and len(backlog) > MAX_BACKLOG:
            raise _Check(f"backlog of {len(backlog)} frames")

    def _check_frame(self, frame: Frame) -> None:
        if self.errored:
            raise _Check(f"{frame.command.value} after ERROR")
        self.result.written += 1
        receipt = frame.get("receipt-id")
        if receipt is not None and frame.command in (Command.RECEIPT, Command.ERROR):
            self.result.receipts[receipt] += 1
        if frame.command is Command.ERROR:
            self.errored = True
            message = frame.get("message") or ""
            if message == INTERNAL_ERROR_MESSAGE:
                raise _Check("ERROR internal error")
            self.result.outcome = "ERROR " + message.split(":")[0].split("'")[0][:40]

    # -------------------------------------------------------------- answering

    def answer_some(self, everything: bool = False) -> None:
        rng = self.rng
        while self.owed and (everything or rng.randrange(3)):
            event = self.owed.pop(rng.randrange(len(self.owed)) if not everything else 0)
            self._answer(event)
            self.collect()

    def _answer(self, event: SessionEvent) -> None:
        rng = self.rng
        session = self.session
        if isinstance(event, Authenticate):
            if rng.randrange(5):
                session.authenticated(ALICE)
            else:
                session.connect_refused(rng.choice(("bad login", "service unavailable, retry")))
        elif isinstance(event, AuthorizeSubscribe):
            if rng.randrange(4):
                session.subscribe_authorized(event.token)
                if event.since is not None:
                    session.replayed(event.token, [({"message-id": "m1", "seq": "1"}, b"r")])
            else:
                session.subscribe_refused(event.token, "forbidden: not a member")
        elif isinstance(event, BeginSend):
            pick = rng.randrange(4)
            if pick == 0:
                outcome: object = Refusal(3002, "not friends", 403)
            elif pick == 1:
                outcome = Unavailable("database")
            else:
                outcome = {"message-id": f"m{event.token}", "seq": str(event.token)}
            session.send_settled(event.token, outcome)
        elif isinstance(event, PauseReading):
            session.resume_reading()

    # ------------------------------------------------------------------- input

    def feed(self, data: bytes) -> int:
        """Feed `data` in random chunks until the session closes; how far it got."""
        rng = self.rng
        pos = 0
        while pos < len(data) and not self.closed:
            step = rng.choice((1, 3, 17, 256, 4096, len(data)))
            self.session.receive_data(data[pos:pos + step], float(pos))
            pos += step
            self.collect()
            self.answer_some()
        return min(pos, len(data))

    def finish(self) -> None:
        if self.rng.randrange(8) == 0:
            self.session.connection_lost()
            self.collect()
        self.answer_some(everything=True)
        if self.session.parse_failed and self.session.state in (
            State.AWAITING_CONNECT, State.AUTHENTICATING, State.CONNECTED
        ):
            raise _Check(f"a refused frame left the session {self.session.state.value}")
        if not self.result.outcome:
            self.result.outcome = self.session.state.value


def run_case(rng: random.Random, material: Sequence[bytes]) -> CaseResult:
    """One Session fed a CONNECT and random frames (see the module docstring); raises
    AssertionError on a broken invariant (any other exception is a crash)."""
    driver = _Driver(rng)
    stream = mutations(material, rng)
    count = rng.randint(1, 40)
    connect = frame_bytes("CONNECT", {"accept-version": rng.choice(("1.0", "1.1", "1.2",
                                                                      "1.1,1.2"))})
    parts = [connect if rng.randrange(6) else next(stream)]
    for _ in range(count):
        parts.append(next(stream) if rng.randrange(3) else rng.choice(material))
    numbers = itertools.count()
    parts = [_RECEIPT.sub(lambda m: b"receipt:r%dx" % next(numbers), part) for part in parts]
    stream = b"".join(parts)
    fed = driver.feed(stream)
    starts = itertools.accumulate((len(part) for part in parts[:-1]), initial=0)
    driver.result.frames_tried = sum(1 for start in starts if start < fed)   # reached it
    driver.finish()
    for receipt, answers in driver.result.receipts.items():
        asked = stream.count(b"receipt:" + receipt.encode())
        if _RENUMBERED.fullmatch(receipt) and answers > asked:
            raise _Check(f"receipt {receipt!r} answered {answers} times")
    return driver.result


_RECEIPT = re.compile(rb"receipt:r-1")
_RENUMBERED = re.compile(r"r\d+x")   # ids a mutation mangled are not counted


class _Timeout(Exception):
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Timeout


def main(argv: list[str] | None = None) -> int:
    """The long run: see the module docstring."""
    options = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    options.add_argument("--frames", type=int, default=1_000_000, help="frames to try")
    options.add_argument("--seed", type=int, default=None, help="default: random")
    options.add_argument("--timeout", type=float, default=5.0, help="seconds per case")
    args = options.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    material = corpus()
    tried = written = cases = 0
    outcomes: Counter[str] = Counter()
    began = time.perf_counter()
    signal.signal(signal.SIGALRM, _on_alarm)
    print(f"session fuzz: seed {seed}, {args.frames:,} frames, corpus of {len(material)}")
    next_report = 100_000
    while tried < args.frames:
        case_seed = seed * 1_000_003 + cases
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
        try:
            result = run_case(random.Random(case_seed), material)
        except Exception as exc:   # a broken invariant, a timeout, or a crash
            signal.setitimer(signal.ITIMER_REAL, 0)
            what = "took too long" if isinstance(exc, _Timeout) else f"failed: {exc!r}"
            print(f"session fuzz: case {cases} {what}; replay with "
                  f"run_case(random.Random({case_seed}), corpus())")
            return 1
        signal.setitimer(signal.ITIMER_REAL, 0)
        cases += 1
        tried += result.frames_tried
        written += result.written
        outcomes[result.outcome] += 1
        if tried >= next_report:
            print(f"session fuzz: {tried:,} frames, {cases:,} sessions, "
                  f"{time.perf_counter() - began:.0f} s", flush=True)
            next_report += 100_000
    elapsed = time.perf_counter() - began
    print(f"session fuzz: OK, {tried:,} frames tried in {cases:,} sessions ({written:,} "
          f"frames written by them) in {elapsed:.1f} s, seed {seed}; no crash, no hang, "
          f"no broken invariant; how sessions ended: {dict(outcomes.most_common(12))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
