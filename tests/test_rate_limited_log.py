"""RateLimitedLog: the first of a kind at once, repeats counted, then one line with the count."""

from __future__ import annotations

import logging

import pytest

from stompim.rate_limited_log import RateLimitedLog


def test_repeats_are_counted_and_reported_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    log = RateLimitedLog(logging.getLogger("test.quiet"), interval=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.quiet"):
        assert log.warning("db", "database down: %s", "refused")
        for _ in range(499):
            assert not log.warning("db", "database down: %s", "refused")
        assert log.warning("redis", "redis down")  # another key is not held back
        now[0] += 10.0
        assert log.warning("db", "database down: %s", "refused")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "database down: refused",
        "redis down",
        "database down: refused (499 more like it in the last 10 s)",
    ]


def test_exception_keeps_the_first_traceback_only(caplog: pytest.LogCaptureFixture) -> None:
    log = RateLimitedLog(logging.getLogger("test.quiet2"), interval=60.0)
    with caplog.at_level(logging.ERROR, logger="test.quiet2"):
        for _ in range(3):
            try:
                raise RuntimeError("boom")
            except RuntimeError:
                log.exception(RuntimeError, "failed")
    assert len(caplog.records) == 1 and "boom" in (caplog.records[0].exc_text or "")


def test_the_table_of_keys_is_bounded() -> None:
    log = RateLimitedLog(logging.getLogger("test.quiet3"), max_keys=10)
    for key in range(1000):
        log.warning(key, "k")
    assert len(log._seen) <= 10
