"""Password policy and bcrypt hashing, always off the event loop.

bcrypt is deliberately slow (tens to hundreds of milliseconds per call at
production cost), so every hash and check runs in a dedicated thread pool of
at most cpu_count - 1 workers (bcrypt releases the GIL): a login storm then
queues logins behind each other but always leaves a core to the event loop,
so message delivery keeps its latency. The queue is bounded by time, not by a
count: a job is refused at once with 429 (retry later) only when the work
already queued would make it wait longer than `max_wait` seconds (config
auth.password_max_wait_ms). The expected wait is the queued work (2^cost per
job) times the measured seconds per unit of it, shared out over the workers; so
200 simultaneous logins at cost 4 all pass, and a storm at production cost is
answered "busy" instead of many seconds late.

Call order for a login: `verify_password(password, stored_hash_or_None, rounds)`.
When the account does not exist the caller passes `None`; a dummy hash of the
same cost is checked instead so the response time does not reveal whether the
username exists.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import bcrypt

from stompim.im.errors import TOO_MANY_REQUESTS, WEAK_PASSWORD, ImError
from stompim.metrics import BCRYPT_BUSY, BCRYPT_SECONDS, BCRYPT_WAIT

MIN_LENGTH = 8
MAX_LENGTH = 64
# bcrypt only looks at the first 72 bytes (bcrypt>=5 refuses longer input).
MAX_BYTES = 72

_HAS_LETTER = re.compile(r"[^\W\d_]")
_HAS_DIGIT = re.compile(r"\d")

_dummy_hashes: dict[int, bytes] = {}
_dummy_lock = threading.Lock()

BCRYPT_WORKERS = max(1, (os.cpu_count() or 2) - 1)
DEFAULT_MAX_WAIT = 3.0
"""Seconds a password job may expect to wait for a worker before it is refused (429)."""
_queued_units = 0  # 2^cost of every job waiting or running
_seconds_per_unit = 60e-6  # measured (moving average); a first guess: cost 10 ~ 60 ms
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _bcrypt_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=BCRYPT_WORKERS, thread_name_prefix="bcrypt")
        return _pool


T = TypeVar("T")


def expected_wait() -> float:
    """Seconds a job queued now would wait for a worker, by the work already queued."""
    return _queued_units * _seconds_per_unit / BCRYPT_WORKERS


async def _off_loop(rounds: int, max_wait: float, fn: Callable[..., T], *args: Any) -> T:
    global _queued_units, _seconds_per_unit
    if _queued_units and expected_wait() > max_wait:
        BCRYPT_BUSY.inc()
        raise ImError(TOO_MANY_REQUESTS, "server busy checking passwords, retry shortly", 429)
    units = 1 << max(0, min(rounds, 31))
    _queued_units += units
    queued = time.perf_counter()

    def timed() -> tuple[T, float]:
        started = time.perf_counter()
        BCRYPT_WAIT.observe(started - queued)   # thread-safe: the library locks
        result = fn(*args)
        took = time.perf_counter() - started
        BCRYPT_SECONDS.observe(took)
        return result, took

    try:
        result, took = await asyncio.get_running_loop().run_in_executor(_bcrypt_pool(), timed)
    finally:
        _queued_units -= units
    _seconds_per_unit = 0.8 * _seconds_per_unit + 0.2 * (took / units)
    return result


def check_policy(password: object, field: str = "password") -> str:
    """Return `password` when it satisfies the policy, else raise ImError(WEAK_PASSWORD).

    Policy: 8-64 characters (and at most 72 UTF-8 bytes, bcrypt's limit), at
    least one letter and one digit.
    """
    if not isinstance(password, str):
        raise ImError(WEAK_PASSWORD, f"{field} must be a string")
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ImError(WEAK_PASSWORD, f"{field} must be {MIN_LENGTH}-{MAX_LENGTH} characters long")
    if len(password.encode("utf-8")) > MAX_BYTES:
        raise ImError(WEAK_PASSWORD, f"{field} must be at most {MAX_BYTES} bytes in UTF-8")
    if not _HAS_LETTER.search(password) or not _HAS_DIGIT.search(password):
        raise ImError(WEAK_PASSWORD, f"{field} needs at least one letter and one digit")
    return password


def _hash_sync(password: bytes, rounds: int) -> str:
    return bcrypt.hashpw(password, bcrypt.gensalt(rounds=rounds)).decode("ascii")


def _dummy_hash(rounds: int) -> bytes:
    with _dummy_lock:
        found = _dummy_hashes.get(rounds)
        if found is None:
            found = bcrypt.hashpw(b"stompim-dummy-password-1", bcrypt.gensalt(rounds=rounds))
            _dummy_hashes[rounds] = found
        return found


def _check_sync(password: bytes, hashed: bytes | None, rounds: int) -> bool:
    """Runs in a worker thread. Always performs exactly one bcrypt check."""
    too_long = len(password) > MAX_BYTES
    if hashed is None or too_long:
        bcrypt.checkpw(password[:MAX_BYTES], _dummy_hash(rounds))
        return False
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # a malformed stored hash never matches
        return False


async def hash_password(
    password: str, rounds: int, *, max_wait: float = DEFAULT_MAX_WAIT
) -> str:
    """bcrypt hash of `password` with cost `rounds`, computed in a worker thread."""
    return await _off_loop(rounds, max_wait, _hash_sync, password.encode("utf-8"), rounds)


async def verify_password(
    password: str, hashed: str | None, rounds: int, *, max_wait: float = DEFAULT_MAX_WAIT
) -> bool:
    """True when `password` matches `hashed`; `hashed=None` checks a dummy (always False).
    The stored hash's own cost sets the work; `rounds` is the dummy's cost."""
    stored = hashed.encode("ascii", "replace") if hashed is not None else None
    cost = _cost_of(stored) or rounds
    return await _off_loop(
        cost, max_wait, _check_sync, password.encode("utf-8"), stored, rounds
    )


def _cost_of(hashed: bytes | None) -> int | None:
    """The cost of a "$2b$10$..." hash; None when it does not say."""
    if hashed is None:
        return None
    parts = hashed.split(b"$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else None
