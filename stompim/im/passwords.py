"""Password policy and bcrypt hashing, always off the event loop.

bcrypt is deliberately slow (tens to hundreds of milliseconds per call at
production cost), so every hash and check runs in a dedicated thread pool of
at most cpu_count - 1 workers (bcrypt releases the GIL): a login storm then
queues logins behind each other but always leaves a core to the event loop,
so message delivery keeps its latency. The queue is bounded too: past
MAX_QUEUED waiting checks a login is refused at once with 429 (retry later)
rather than answered many seconds late.

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import bcrypt

from stompim.im.errors import TOO_MANY_REQUESTS, WEAK_PASSWORD, ImError

MIN_LENGTH = 8
MAX_LENGTH = 64
# bcrypt only looks at the first 72 bytes (bcrypt>=5 refuses longer input).
MAX_BYTES = 72

_HAS_LETTER = re.compile(r"[^\W\d_]")
_HAS_DIGIT = re.compile(r"\d")

_dummy_hashes: dict[int, bytes] = {}
_dummy_lock = threading.Lock()

BCRYPT_WORKERS = max(1, (os.cpu_count() or 2) - 1)
MAX_QUEUED = 16 * BCRYPT_WORKERS
"""bcrypt jobs waiting or running at most; about a second of work at production cost."""
_queued = 0
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _bcrypt_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=BCRYPT_WORKERS, thread_name_prefix="bcrypt")
        return _pool


T = TypeVar("T")


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    global _queued
    if _queued >= MAX_QUEUED:
        raise ImError(TOO_MANY_REQUESTS, "server busy checking passwords, retry shortly", 429)
    _queued += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_bcrypt_pool(), fn, *args)
    finally:
        _queued -= 1


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


async def hash_password(password: str, rounds: int) -> str:
    """bcrypt hash of `password` with cost `rounds`, computed in a worker thread."""
    return await _off_loop(_hash_sync, password.encode("utf-8"), rounds)


async def verify_password(password: str, hashed: str | None, rounds: int) -> bool:
    """True when `password` matches `hashed`; `hashed=None` checks a dummy (always False)."""
    stored = hashed.encode("ascii", "replace") if hashed is not None else None
    return await _off_loop(_check_sync, password.encode("utf-8"), stored, rounds)
