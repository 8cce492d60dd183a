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

from stompim.frames import Command

from .session_fuzz import corpus, run_case
from .sessionkit import ALICE, World

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


def test_found_by_the_long_run_a_receipt_ending_in_cr_in_stomp_1_1() -> None:
    """Seed 1450457068 of the long run: a 1.1 frame whose receipt value ends in CR
    (`receipt:r\\r` then CRLF) could not be echoed (1.1 cannot escape CR) and the
    encoder's LocalProtocolError escaped the session.  Now: ERROR without receipt-id,
    close."""
    run_case(random.Random(1450461419380106), CORPUS)
    world = World()
    for version in ("1.0", "1.1"):
        peer = world.peer()
        peer.feed(f"CONNECT\naccept-version:{version}\n\n\x00".encode())
        peer.take_events()
        peer.session.authenticated(ALICE)
        assert peer.take()[0].command is Command.CONNECTED
        peer.feed(b"SEND\ndestination:/topic/t\nreceipt:r\r\r\n\r\n\x00")
        frames = peer.take()
        assert [f.command for f in frames] == [Command.ERROR]
        assert frames[0].get("message") == f"receipt header cannot be answered in STOMP {version}"
        assert frames[0].get("receipt-id") is None and peer.closed is not None
