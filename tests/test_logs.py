"""stompim.logs: formats, the ids of a line, redaction, and one logger per module."""

from __future__ import annotations

import ast
import asyncio
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stompim import logs
from stompim.config import Config
from stompim.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VySWQiOjEsInVzZXJuYW1lIjoiYWxpY2UifQ"
    ".fSfr4a0Oxjkbyu2Zf1k3hXR5c1b9lbAOpR7bvFJRQGM"
)
BCRYPT = "$2b$04$" + "a" * 53

Lines = Callable[[], list[dict[str, Any]]]
log = logging.getLogger("stompim.tests.logs")


@dataclass
class FakePrincipal:
    user_id: int


@dataclass
class FakeSession:
    id: str
    principal: FakePrincipal | None = None


@pytest.fixture
def text_log() -> io.StringIO:
    buffer = io.StringIO()
    logs.configure("text", "INFO", stream=buffer)  # removed by conftest's _restore_logging
    return buffer


def test_json_lines_carry_the_request_ids(json_logs: Lines) -> None:
    user: list[int | None] = [None]
    scope = logs.enter_request("req-1", lambda: user[0])
    try:
        log.info("before auth")
        user[0] = 42
        log.info("after auth %s", "done", extra={"route": "/api/x"})
    finally:
        logs.leave_request(scope)
    log.info("outside")
    before, after, outside = json_logs()
    assert before["request_id"] == "req-1" and "user_id" not in before
    assert after == {**after, "request_id": "req-1", "user_id": 42, "route": "/api/x",
                     "message": "after auth done", "level": "INFO",
                     "logger": "stompim.tests.logs"}
    assert "timestamp" in after
    assert not {"request_id", "session_id", "user_id"} & set(outside)


def test_session_ids_are_read_when_the_line_is_written(json_logs: Lines) -> None:
    session = FakeSession("n1s7")
    token = logs.CURRENT_SESSION.set(session)
    try:
        log.info("before CONNECT")
        session.principal = FakePrincipal(9)
        log.info("after CONNECT")
        other = FakeSession("n1s8", FakePrincipal(10))
        log.info("about another", extra=logs.session_fields(other))
    finally:
        logs.CURRENT_SESSION.reset(token)
    before, after, about_other = json_logs()
    assert before["session_id"] == "n1s7" and "user_id" not in before
    assert (after["session_id"], after["user_id"]) == ("n1s7", 9)
    assert (about_other["session_id"], about_other["user_id"]) == ("n1s8", 10)


async def test_tasks_inherit_the_ids_unless_detached(json_logs: Lines) -> None:
    token = logs.CURRENT_SESSION.set(FakeSession("n1s1", FakePrincipal(5)))
    try:
        async def say(what: str) -> None:
            log.info(what)

        inherited = asyncio.get_running_loop().create_task(say("inherited"))
        detached = asyncio.get_running_loop().create_task(
            say("detached"), context=logs.detached_context()
        )
        await asyncio.gather(inherited, detached)
    finally:
        logs.CURRENT_SESSION.reset(token)
    by_message = {line["message"]: line for line in json_logs()}
    assert by_message["inherited"]["session_id"] == "n1s1"
    assert "session_id" not in by_message["detached"]
    assert "user_id" not in by_message["detached"]


def test_text_format_names_the_ids(text_log: io.StringIO) -> None:
    scope = logs.enter_request("abc", lambda: 3)
    try:
        log.warning("hello")
    finally:
        logs.leave_request(scope)
    log.warning("plain")
    first, second = text_log.getvalue().splitlines()
    assert first.endswith(" WARNING stompim.tests.logs [req=abc user=3]: hello")
    assert second.endswith(" WARNING stompim.tests.logs: plain")


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        (f"token {JWT} refused", JWT),
        ("Authorization: Bearer abc.def-123", "abc.def-123"),
        ("login password=hunter2x9 ok", "hunter2x9"),
        ('body {"username": "a", "password": "s3cret pass"}', "s3cret pass"),
        ("{'oldPassword': 'pw1xxxxx', 'newPassword': 'pw2yyyyy'}", "pw1xxxxx"),
        ('{"smsCode": "123456"}', "123456"),
        ("passcode:letmein99", "letmein99"),
        (f"hash {BCRYPT}", BCRYPT),
        ("cannot reach mysql://root:topsecret@127.0.0.1:3306/im", "topsecret"),
        ("redis://:r3dispass@127.0.0.1:6379/0 down", "r3dispass"),
        ("ws handshake /ws?token=opaque-token-value&x=1", "opaque-token-value"),
        ("X-Internal-Secret: inside-job-42", "inside-job-42"),
    ],
)
def test_redaction_hides_credentials(raw: str, secret: str) -> None:
    clean = logs.redact(raw)
    assert secret not in clean and "***" in clean


def test_redaction_keeps_ordinary_text() -> None:
    text = "GET /api/user/info/{userId} 200 3.1ms code=1002 user 42 session n1s3"
    assert logs.redact(text) == text


def test_secrets_in_arguments_and_tracebacks_are_redacted(json_logs: Lines) -> None:
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        log.exception("failed for password=%s", "hunter2x9")
    (line,) = json_logs()
    text = json.dumps(line)
    assert JWT not in text and "hunter2x9" not in text
    assert "ValueError: bad token ***" in line["exc_info"]
    assert line["message"] == "failed for password=***"


def test_library_loggers_stay_at_info_when_ours_debug(json_logs: Lines) -> None:
    logging.getLogger("stompim.tests.logs").debug("ours")
    logging.getLogger("aiosqlite").debug("executing UPDATE users SET password_hash = ...")
    assert [line["message"] for line in json_logs()] == ["ours"]


def test_configure_replaces_its_handler_and_can_silence_access(text_log: io.StringIO) -> None:
    second = io.StringIO()
    handler = logs.configure("text", "INFO", access=False, stream=second)
    logging.getLogger(logs.ACCESS_LOGGER).info("GET / 200")
    log.info("kept")
    assert text_log.getvalue() == ""
    assert [ln.split(": ", 1)[1] for ln in second.getvalue().splitlines()] == ["kept"]
    named = [h for h in logging.getLogger().handlers if h.get_name() == "stompim"]
    assert named == [handler]


def test_log_config_is_validated() -> None:
    assert Config().log.format == "text"
    with pytest.raises(ConfigError, match=r"log\.format"):
        Config().replace(log={"format": "xml"}).validate()
    with pytest.raises(ConfigError, match=r"log\.level"):
        Config().replace(log={"level": "LOUD"}).validate()


def test_every_module_logs_under_its_own_name() -> None:
    """`logging.getLogger(__name__)` everywhere (but logs.py, which sets levels): a
    literal name drifts from the module."""
    offenders = []
    for path in sorted((ROOT / "stompim").rglob("*.py")):
        if path == ROOT / "stompim" / "logs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getLogger"
                and node.args
                and not (isinstance(node.args[0], ast.Name) and node.args[0].id == "__name__")
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
