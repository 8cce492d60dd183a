"""The one error tree of stompim: every error a module raises on purpose derives from it.

This module is the bottom of the import graph (it imports nothing of stompim), so the codec,
the broker, the store, the IM domain and both bindings share it.  Each branch says how the
two bindings answer it, so a new error needs no new mapping code::

    StompimError                  .message (readable, safe to show a client)
     ├── ProtocolError            a wire protocol was broken
     │    ├── LocalProtocolError  our own code misused an API: a bug.  Logged with its
     │    │                       traceback; STOMP: ERROR "internal error" and close;
     │    │                       REST: 500 (the only 500 there is)
     │    └── RemoteProtocolError the peer broke the protocol (a malformed frame, a
     │         │                  limit passed, a frame not allowed in this state).
     │         │                  STOMP: ERROR (+ receipt-id) and close; REST: 400/9001
     │         ├── (stompim.frames) MalformedFrame, LimitExceeded...: the codec's
     │         └── FrameRefused   (stompim.broker.errors) a frame the broker will not
     │              │             process (+ ERROR body and headers)
     │              ├── DestinationRefused  unknown destination, or not this user's
     │              └── QueueFull           a generic queue is at its depth limit
     ├── Refusal                  a business rule says no (.code, .status).  STOMP: a
     │    │                       refusal RECEIPT (x-error-code, x-error-message) and a
     │    │                       MESSAGE on /user/queue/errors, the connection stays;
     │    │                       REST: .status with the Result {code, message}.  A
     │    │                       refused CONNECT or SUBSCRIBE gets ERROR and close, as
     │    │                       the STOMP spec answers those frames
     │    ├── (stompim.im) ImError  every refusal of the IM domain
     │    └── AuthenticationFailed  (stompim.broker.errors) credentials missing or
     │                            wrong: STOMP ERROR and close; REST 401
     ├── Unavailable              infrastructure did not answer in time or refused (the
     │                            database, Redis) (.dependency, .retry_after).  Retry
     │                            later; nothing of the request took effect, or it is
     │                            findable (a chat send: resend the same clientMsgId).
     │                            STOMP: a send is refused with SEND_FAILED (3001),
     │                            CONNECT and SUBSCRIBE get ERROR "service unavailable,
     │                            retry"; REST: 503 + Retry-After
     ├── StoreError               a persistence outcome the caller must decide about
     │    ├── DuplicateKey        a unique key is taken (the domain turns it into a
     │    │                       Refusal or an idempotent answer)
     │    ├── NotFoundInStore     the row is not there
     │    ├── InvalidValue        the database refused a value of this request (an
     │    │                       integer outside signed 64 bits, a NOT NULL column):
     │    │                       only this request fails; the domain checks first,
     │    │                       so one reaching REST is answered 400/9001
     │    └── KvTypeError         a key-value operation met a key of the other type
     └── ConfigError              the configuration is wrong: the node refuses to start

Local vs remote follows h11: "local" means we are at fault, "remote" the peer is.  Anything
that is not a StompimError escaping a handler is a bug and is treated like a
LocalProtocolError.

The STOMP answers are computed here, next to the tree, so the broker has one place to
ask: `send_refusal` (the x-error-code / x-error-message of a refused SEND) and
`stomp_error_message` (the ERROR message of a failed CONNECT or SUBSCRIBE).
"""

from __future__ import annotations

__all__ = [
    "INTERNAL_ERROR_MESSAGE",
    "SEND_FAILED",
    "UNAUTHORIZED",
    "UNAVAILABLE",
    "UNAVAILABLE_MESSAGE",
    "ConfigError",
    "DuplicateKey",
    "InvalidValue",
    "KvTypeError",
    "LocalProtocolError",
    "NotFoundInStore",
    "ProtocolError",
    "Refusal",
    "RemoteProtocolError",
    "StompimError",
    "StoreError",
    "Unavailable",
    "send_refusal",
    "stomp_error_message",
]

UNAVAILABLE = 9503
"""REST code of an Unavailable answer (HTTP 503): "a dependency is down, retry"."""

SEND_FAILED = 3001
"""STOMP x-error-code of a SEND refused because a dependency is Unavailable ("message send
failed": resend it, with the same clientMsgId)."""

UNAUTHORIZED = 9002
"""Code of a refused authentication (REST 401; STOMP ERROR on CONNECT)."""

UNAVAILABLE_MESSAGE = "service unavailable, retry"
"""STOMP ERROR message when CONNECT or SUBSCRIBE meets an Unavailable dependency."""

INTERNAL_ERROR_MESSAGE = "internal error"
"""STOMP ERROR message of a bug (anything that is not a StompimError); logged with its
traceback, never shown."""


class StompimError(Exception):
    """Base of every deliberate error; ``message`` is readable and safe to show a client."""

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ProtocolError(StompimError):
    """A wire protocol (STOMP, WebSocket, HTTP) was broken by one side."""


class LocalProtocolError(ProtocolError):
    """Our side asked for something the protocol cannot express: a bug, never the peer's."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol: STOMP answers ERROR and closes; REST answers 400."""


class Refusal(StompimError):
    """A business refusal with a stable ``code`` and the HTTP ``status`` that fits it."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {self.message!r}, {self.status})"


class Unavailable(StompimError):
    """A dependency (``"database"``, ``"redis"``) timed out or refused: retry later."""

    def __init__(self, dependency: str, message: str = "", retry_after: float = 1.0) -> None:
        super().__init__(message or f"{dependency} unavailable, retry")
        self.dependency = dependency
        self.retry_after = retry_after


class StoreError(StompimError):
    """A persistence outcome the caller decides about (the store knows no business rule)."""


class DuplicateKey(StoreError):
    """A unique key is already taken; `key` names it (a column, e.g. "phone") when the
    store knows which."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class NotFoundInStore(StoreError):
    """The row asked for does not exist."""


class InvalidValue(StoreError):
    """The database refused a value of one statement (out of range, NULL where none may
    be): the statement's own input is at fault, not the database, so a batch retries
    without it."""


class KvTypeError(StoreError, TypeError):
    """A string operation on a hash key or the other way round (Redis: WRONGTYPE)."""


class ConfigError(StompimError, ValueError):
    """The configuration is invalid; the message names the key."""


def send_refusal(error: Refusal | Unavailable) -> tuple[int, str]:
    """(x-error-code, x-error-message) of the RECEIPT that answers a refused SEND: a
    Refusal keeps its own code, an Unavailable dependency is SEND_FAILED (retry)."""
    if isinstance(error, Refusal):
        return error.code, error.message
    return SEND_FAILED, error.message


def stomp_error_message(error: BaseException, prefix: str = "") -> str:
    """The ERROR message for a CONNECT or SUBSCRIBE that failed with `error` (the
    session then closes): a refusal or a protocol error says why (after `prefix`, e.g.
    "forbidden: "), an Unavailable dependency asks to retry, a bug says "internal error"
    (the caller logs it)."""
    if isinstance(error, Unavailable):
        return UNAVAILABLE_MESSAGE
    if isinstance(error, Refusal | RemoteProtocolError):
        return prefix + error.message
    return INTERNAL_ERROR_MESSAGE
