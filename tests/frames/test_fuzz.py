"""The frame codec fuzz, CI-bounded (a few seconds); its long run and its invariants are
described in tests/frames/fuzz.py:

    .venv/bin/python -m tests.frames.fuzz --frames 1000000

Here hypothesis picks the seeds of the same mutator, so a failure shrinks to a seed and
is replayed from hypothesis's database.
"""

from __future__ import annotations

import random

import pytest
from frames.fuzz import LIMITS_CHOICES, check, mutate, mutations, parse, seed_corpus
from hypothesis import given, settings
from hypothesis import strategies as st

from stompim.frames import Command, Frame, FrameParser, FrameTooLarge, Limits
from stompim.frames.commands import SUPPORTED_VERSIONS

CORPUS = seed_corpus()


def test_seed_corpus_is_valid_frames_of_every_command_and_version() -> None:
    seen = set()
    for data in CORPUS[:-1]:
        for cuts in ([], list(range(1, len(data)))):
            outcome = parse(data, cuts, LIMITS_CHOICES[0])
            assert outcome.error is None and len(outcome.frames) == 1 and not outcome.buffered
        seen.add(outcome.frames[0].command)
    assert seen == set(Command)
    assert parse(CORPUS[-1], [], LIMITS_CHOICES[0]).heartbeats == 3
    assert any(b"\r\n\r\n" in data for data in CORPUS)
    assert any(b"content-length" not in data and b"\n\n\x00" not in data for data in CORPUS)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_mutated_frames_end_in_frames_or_a_typed_error(seed: int) -> None:
    rng = random.Random(seed)
    for data in mutations(CORPUS, rng, 16):
        check(data, rng, rng.choice(LIMITS_CHOICES), rng.choice(SUPPORTED_VERSIONS))


def test_mutations_are_deterministic_and_varied() -> None:
    first = list(mutations(CORPUS, random.Random(5), 200))
    assert first == list(mutations(CORPUS, random.Random(5), 200))
    assert len(set(first)) > 190
    assert mutate(b"SEND\n\n\x00", random.Random(1), CORPUS) != b"SEND\n\n\x00"


def test_huge_buffered_frames_are_refused_at_the_limit() -> None:
    limits = Limits(max_frame_size=1000)
    rng = random.Random(3)
    outcome = check(b"SEND\n\n" + b"x" * 5000, rng, limits)
    assert type(outcome.error) is FrameTooLarge and outcome.buffered == 0


def test_check_catches_a_crash_and_a_disagreement(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fuzz oracle itself can fail: a parser that crashes on one byte, or that
    drops frames when fed byte at a time, is caught."""
    real_feed = FrameParser.feed
    data = b"SEND\n\nhi\x00"

    def crash_on_single_bytes(self: FrameParser, chunk: bytes) -> list[Frame]:
        if len(chunk) == 1 and chunk == b"\x00":
            raise ValueError("boom")
        return real_feed(self, chunk)

    monkeypatch.setattr(FrameParser, "feed", crash_on_single_bytes)
    with pytest.raises(ValueError):
        check(data, random.Random(0), LIMITS_CHOICES[0])

    def lose_frames_from_single_bytes(self: FrameParser, chunk: bytes) -> list[Frame]:
        frames = real_feed(self, chunk)
        return [] if len(chunk) == 1 else frames

    monkeypatch.setattr(FrameParser, "feed", lose_frames_from_single_bytes)
    with pytest.raises(AssertionError):
        check(data, random.Random(0), LIMITS_CHOICES[1])
