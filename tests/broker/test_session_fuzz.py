"""The session fuzz, CI-bounded (a few seconds); its long run and its invariants are
described in tests/broker/session_fuzz.py:

    .venv/bin/python -m tests.broker.session_fuzz --frames 1000000

hypothesis picks the seeds of the cases, so a failure shrinks to a seed and is replayed
from hypothesis's database.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from .session_fuzz import corpus, run_case

CORPUS = corpus()


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_random_and_mutated_frames_in_random_chunks(seed: int) -> None:
    result = run_case(random.Random(seed), CORPUS)
    assert result.frames_tried >= 1


def test_a_fixed_run_reaches_connected_sessions_and_refusals() -> None:
    """The driver really exercises the session: over 300 cases some sessions get
    CONNECTED and answer receipts, and many end in ERROR for a bad frame."""
    outcomes = [run_case(random.Random(seed), CORPUS) for seed in range(300)]
    assert sum(r.frames_tried for r in outcomes) > 1000
    assert any(r.receipts for r in outcomes)
    assert sum(r.outcome.startswith("ERROR") for r in outcomes) > 100
    assert any(not r.outcome.startswith("ERROR") for r in outcomes)
