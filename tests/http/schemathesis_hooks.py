"""Schemathesis hooks for fuzzing a live node (tests/http/test_schemathesis.py and the
longer run in README.md): log in as the fuzzing user, and again after any 401 — the run
calls POST /api/user/logout, which revokes the token it used.

Loaded by `st run` through SCHEMATHESIS_HOOKS=schemathesis_hooks (with this directory on
PYTHONPATH). Reads STOMPIM_FUZZ_BASE, STOMPIM_FUZZ_USER and STOMPIM_FUZZ_PASSWORD.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import schemathesis


def login(base: str, username: str, password: str) -> str:
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(
        f"{base}/api/user/login", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return str(json.load(resp)["data"]["token"])


@schemathesis.auth()
class NodeLogin:
    def get(self, case: Any, context: Any) -> str:
        env = os.environ
        return login(env["STOMPIM_FUZZ_BASE"], env["STOMPIM_FUZZ_USER"],
                     env["STOMPIM_FUZZ_PASSWORD"])

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
