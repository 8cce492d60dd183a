"""HeapTrimmer (stompim.broker.memory): on glibc it trims once the heap holds more than
its threshold free, at most once per period; elsewhere it does nothing."""

from __future__ import annotations

import pytest

from stompim.broker.memory import HeapTrimmer


def test_trims_past_the_threshold_at_most_once_per_period() -> None:
    trimmer = HeapTrimmer(threshold=1 << 20, period=10.0)
    if not trimmer.available:
        pytest.skip("not glibc: nothing to trim")
    # many mid-sized blocks (under the mmap threshold: on the heap), then free every other
    # one so the free space cannot go back by itself
    blocks = [bytearray(64 * 1024) for _ in range(200)]
    del blocks[::2]
    assert trimmer.free_bytes() >= 1 << 20
    assert trimmer.maybe_trim(100.0) is True
    assert trimmer.trims == 1 and trimmer.trimmed >= 1 << 20
    more = [bytearray(64 * 1024) for _ in range(200)]
    del more[::2]
    assert trimmer.maybe_trim(105.0) is False     # within the period: not even a look
    assert trimmer.maybe_trim(110.0) is True
    assert trimmer.trims == 2
    del blocks, more


def test_nothing_to_do_under_the_threshold() -> None:
    trimmer = HeapTrimmer(threshold=1 << 40)
    assert trimmer.maybe_trim(1.0) is False
    assert trimmer.trims == 0
