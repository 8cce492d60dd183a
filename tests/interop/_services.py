"""Skip-or-fail for outside tools the interop tests need (Node.js, npm, Chromium).

A missing tool skips the test with a reason that names it, except under
``STOMPIM_REQUIRE_SERVICES=1`` (CI), where the same reason fails the test: CI
must never go green because a client was silently not run.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

__all__ = ["find_chromium", "require_services", "unavailable"]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def require_services() -> bool:
    return os.environ.get("STOMPIM_REQUIRE_SERVICES", "") == "1"


def unavailable(reason: str) -> NoReturn:
    """Skip (or, under STOMPIM_REQUIRE_SERVICES=1, fail) with `reason`."""
    if require_services():
        pytest.fail(f"{reason} (STOMPIM_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary: $STOMPIM_CHROMIUM first, then PATH."""
    explicit = os.environ.get("STOMPIM_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path is not None:
            return path
    return None
