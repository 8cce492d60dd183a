"""Logging of a node: one format for every module, the ids a line concerns, no secrets.

Every module logs through ``logging.getLogger(__name__)`` (names under ``stompim.``).
`configure()` gives the root logger one handler on stderr whose two filters run on every
record, stompim's and the libraries' alike:

``ContextFilter``    adds the ids of what the line is about: ``request_id`` and
                     ``user_id`` of the REST request being served, or ``session_id`` and
                     ``user_id`` of the STOMP session whose frames are being handled.
                     Ids passed through ``extra=`` (see `session_fields`) win: a line
                     about another session than the current one names that one.
``RedactionFilter``  the safety net behind careful call sites: JWTs, ``Bearer``
                     credentials, ``password=``/``"token": ...``-style fields, bcrypt
                     hashes and passwords inside URLs are replaced by ``***`` in the
                     message and in tracebacks before any formatter sees them.

``log.format = "text"`` prints ``time LEVEL logger [req=.. session=.. user=..]: message``;
``"json"`` prints one JSON object a line (python-json-logger, through orjson) with
``timestamp``, ``level``, ``logger``, ``message``, the ids that apply and the ``extra``
fields of the call (the access log's ``method``, ``route``, ``status``, ...).

Where the ids come from (context variables, so nothing is passed down by hand):

* the HTTP access middleware (stompim.http.access) calls `enter_request()` before the
  handler and `leave_request()` after it, in the request's task;
* the STOMP transports (broker/tcp.py ``data_received``, broker/websocket.py ``_feed``
  and the early frames of its handler) set `CURRENT_SESSION` around ``Session.feed``.
  Tasks and callbacks started while handling those frames copy the context, so the
  asynchronous CONNECT, SUBSCRIBE and SEND handlers log with the same ids; the user id
  is read from the session's principal when the line is written, so it appears as soon
  as CONNECT authenticated.
* A long-lived task that serves everyone (a writer, a dispatcher) must not inherit the
  ids of whoever happened to start it: create it with ``context=detached_context()``.

This module is at the bottom of the import graph (it imports nothing of stompim).
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

from pythonjsonlogger.orjson import OrjsonFormatter

__all__ = [
    "CURRENT_SESSION",
    "ContextFilter",
    "RedactionFilter",
    "RequestScope",
    "configure",
    "detached_context",
    "enter_request",
    "is_level",
    "leave_request",
    "level_below",
    "redact",
    "session_fields",
]

ACCESS_LOGGER = "stompim.http.access"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"
ID_FIELDS = ("request_id", "session_id", "user_id")
_SHORT = {"request_id": "req", "session_id": "session", "user_id": "user"}


class _HasUserId(Protocol):
    @property
    def user_id(self) -> int: ...


class SessionLike(Protocol):
    """What the filter reads of a STOMP session (broker.session.Session has both)."""

    @property
    def id(self) -> str: ...

    @property
    def principal(self) -> _HasUserId | None: ...


@dataclass(frozen=True, slots=True)
class RequestScope:
    """The REST request being served: its id, and who is calling once the auth
    middleware knows (`user_id()` is asked when a line is written)."""

    request_id: str
    user_id: Callable[[], int | None]


_REQUEST: contextvars.ContextVar[RequestScope | None] = contextvars.ContextVar(
    "stompim_log_request", default=None
)
CURRENT_SESSION: contextvars.ContextVar[SessionLike | None] = contextvars.ContextVar(
    "stompim_log_session", default=None
)
"""The STOMP session whose input is being handled; set by the transports around feed."""


def enter_request(
    request_id: str, user_id: Callable[[], int | None]
) -> contextvars.Token[RequestScope | None]:
    """Start a request's scope in the current task; pass the token to `leave_request`."""
    return _REQUEST.set(RequestScope(request_id, user_id))


def leave_request(token: contextvars.Token[RequestScope | None]) -> None:
    _REQUEST.reset(token)


def session_fields(session: SessionLike) -> dict[str, Any]:
    """``extra=`` for a line about `session` written outside its own frame handling
    (a slow consumer dropped while another session publishes, a kicked subscription)."""
    principal = session.principal
    return {"session_id": session.id, "user_id": principal.user_id if principal else None}


def _clear() -> None:
    _REQUEST.set(None)
    CURRENT_SESSION.set(None)


def detached_context() -> contextvars.Context:
    """A copy of the current context without request or session: for tasks that serve
    every session and request, so their lines do not carry the ids of the first one."""
    context = contextvars.copy_context()
    context.run(_clear)
    return context


# --------------------------------------------------------------------------- filters


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``session_id``, ``user_id`` (those known) and ``context``
    (their text form for the text format) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        scope = _REQUEST.get()
        if scope is not None and "request_id" not in fields:
            fields["request_id"] = scope.request_id
        if "session_id" not in fields and "user_id" not in fields:
            session = CURRENT_SESSION.get()
            if session is not None:
                fields["session_id"] = session.id
                principal = session.principal
                if principal is not None:
                    fields["user_id"] = principal.user_id
            elif scope is not None:
                user_id = scope.user_id()
                if user_id is not None:
                    fields["user_id"] = user_id
        for name in ID_FIELDS:  # an explicit None (extra=) means "not known": drop it
            if name in fields and fields[name] is None:
                del fields[name]
        known = [f"{_SHORT[n]}={fields[n]}" for n in ID_FIELDS if n in fields]
        record.context = f" [{' '.join(known)}]" if known else ""
        return True


_SECRET_NAMES = (
    r"password|passwd|passcode|old_?password|new_?password|token|access_?token|"
    r"refresh_?token|sms_?code|verification_?code|jwt_?secret|internal_?secret|secret|"
    r"authorization|x-internal-secret"
)
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # a JWT anywhere (header.payload.signature; the header always starts with '{"')
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "***"),
    # a credential after an auth scheme
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s\"',;]+"), r"\1\2***"),
    # name=value, name: value, "name": "value", 'name': 'value' for secret names
    (
        re.compile(
            r"(?i)([\"']?\b(?:" + _SECRET_NAMES + r")\b[\"']?\s*[:=]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,;&}\])]+)"
        ),
        r"\1***",
    ),
    # bcrypt hashes
    (re.compile(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}"), "***"),
    # the password of a URL (mysql://user:pass@host, redis://:pass@host)
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@"), r"\1***@"),
)


def redact(text: str) -> str:
    """`text` with every credential the patterns recognise replaced by ``***``."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactionFilter(logging.Filter):
    """Applies `redact` to the message and the traceback of every record."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it, we keep the raw
            message = str(record.msg)
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self._formatter.formatException(record.exc_info)
            # formatters re-render exc_info when present: keep only the redacted text
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# ------------------------------------------------------------------------ formatting


class _JsonFormatter(OrjsonFormatter):
    """JSON lines; the exception under ``exc_info`` comes from the redacted text."""

    def __init__(self) -> None:
        super().__init__(
            "%(message)s %(levelname)s %(name)s",
            rename_fields={"levelname": "level", "name": "logger"},
            # "websocket": the websockets library's connection object (its repr is noise)
            reserved_attrs=[*_RESERVED, "context", "websocket"],
            timestamp=True,
        )


_RESERVED = (
    "args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName",
    "levelno", "lineno", "module", "msecs", "msg", "pathname", "process",
    "processName", "relativeCreated", "stack_info", "thread", "threadName", "taskName",
)

_HANDLER_NAME = "stompim"


def is_level(name: str) -> bool:
    """True for a level name logging knows (DEBUG, INFO, WARNING, ERROR, CRITICAL)."""
    return isinstance(logging.getLevelName(name.upper()), int)


def level_below(name: str, other: str) -> bool:
    """True when level `name` lets through more than level `other`."""
    return int(logging.getLevelName(name.upper())) < int(logging.getLevelName(other.upper()))


def configure(
    format: str = "text",
    level: str = "INFO",
    *,
    access: bool = True,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Install the node's handler on the root logger (replacing one installed before).

    `format` "text" or "json"; `level` a level name for stompim's own loggers; the
    libraries' loggers never go below INFO, because at DEBUG some of them write SQL
    parameters (password hashes, message bodies) or whole frames. `access` False
    silences the REST access log (its lines are INFO). Returns the handler (tests read
    its stream)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    if format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactionFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    ours = logging.getLevelName(level.upper())
    root.setLevel(max(ours, logging.INFO))
    logging.getLogger("stompim").setLevel(ours)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.NOTSET if access else logging.WARNING)
    return handler
