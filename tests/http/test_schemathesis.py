"""Schemathesis against the OpenAPI document of a live node on SQLite (issue 10): every
operation fuzzed from its declared models, with valid and invalid data; no answer may be
a 5xx, every answer must match the document (envelope, data schema, content type,
documented status) and the node's log must hold no traceback.

CI-bounded: a few examples per operation (some hundreds of requests, well under a
minute). The longer run is in README.md ("Fuzzing the REST API").
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FUZZER, PASSWORD = "fuzzer", "passw0rd-fuzz"
INTERNAL_SECRET = "fuzz-internal-secret"
CHECKS = (
    "not_a_server_error,response_schema_conformance,content_type_conformance,"
    "status_code_conformance"
)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`stompim serve` on free ports in an empty directory (embedded SQLite): its base URL
    and its log file."""
    log = tmp_path / "node.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOMPIM_")}
    env.update(
        STOMPIM_SERVER_HTTP_PORT="0",
        STOMPIM_SERVER_WS_PORT="0",
        STOMPIM_SERVER_TCP_PORT="-1",
        STOMPIM_AUTH_BCRYPT_ROUNDS="4",
        STOMPIM_AUTH_JWT_SECRET="fuzz-secret-0123456789abcdef0123456789",
        STOMPIM_AUTH_INTERNAL_SECRET=INTERNAL_SECRET,
        # the run changes the fuzzer's password with random old ones: no lockout
        STOMPIM_AUTH_LOGIN_MAX_FAILURES="1000000",
    )
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stompim", "serve"], cwd=tmp_path, env=env,
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        base = _wait_for_base(log, proc)
        yield base, log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_base(log: Path, proc: subprocess.Popen[bytes]) -> str:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"serving REST (http://127\.0\.0\.1:\d+)/api", log.read_text())
        if match:
            return match[1]
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"the node did not start:\n{log.read_text()}")


def _register(base: str) -> None:
    body = json.dumps({"username": FUZZER, "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"{base}/api/user/register", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert json.load(resp)["code"] == 200


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(node: tuple[str, Path]) -> None:
    base, log = node
    _register(base)
    env = dict(
        os.environ,
        STOMPIM_FUZZ_BASE=base,
        STOMPIM_FUZZ_USER=FUZZER,
        STOMPIM_FUZZ_PASSWORD=PASSWORD,
        SCHEMATHESIS_HOOKS="schemathesis_hooks",
        PYTHONPATH=str(HERE),
    )
    st = Path(sys.executable).with_name("st")
    run = subprocess.run(
        [
            str(st), "run", f"{base}/v3/api-docs",
            "--max-examples", "3", "--workers", "1", "--checks", CHECKS,
            "--header", f"X-Internal-Secret: {INTERNAL_SECRET}",
            "--request-timeout", "10", "--no-color",
        ],
        env=env, cwd=log.parent, capture_output=True, text=True, timeout=240,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert cases, output
    generated, passed = int(cases[1]), int(cases[2])
    print(f"schemathesis: {generated} test cases, {passed} passed")
    assert generated == passed and generated >= 300, output
    operations = re.search(r"Tested: (\d+)", output)
    assert operations and int(operations[1]) >= 55, output
    node_log = log.read_text()
    assert "Traceback" not in node_log and "unhandled error" not in node_log, node_log
