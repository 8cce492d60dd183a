"""The broker's errors, on the branches of the one error tree (stompim/errors.py).

    RemoteProtocolError (stompim.errors)
     └── FrameRefused        a client frame the broker will not process: the session
          │                  sends ERROR (`message`, `body` or the message, `receipt-id`
          │                  when the frame had `receipt`, extra `headers`) and closes
          ├── DestinationRefused  the destination does not exist, or this principal may
          │                       not use it this way
          └── QueueFull      a generic queue is full (`max_queue_depth` messages or
                             `max_queue_bytes`), the node's queues are
                             (`max_queues_total_bytes`), or there are `max_queues`
    Refusal (stompim.errors)
     ├── AuthenticationFailed  credentials missing or wrong: ERROR and close on CONNECT
     └── TransactionAborted    the answer of a SEND held in a transaction that was
                               aborted (ABORT, or DISCONNECT with it open): a refusal
                               RECEIPT, nothing stored, no /user/queue/errors notice

The codec's errors (stompim.frames) lead to the same ERROR and close.  A Refusal or an
Unavailable raised by a DestinationHandler for a SEND keeps the session open (a refusal
RECEIPT, see stompim.errors.send_refusal).  Anything else escaping the broker's code is a
bug: logged with its traceback, the client gets ERROR "internal error", and only that
session closes.
"""

from __future__ import annotations

from collections.abc import Mapping

from stompim.errors import SEND_FAILED, UNAUTHORIZED, Refusal, RemoteProtocolError

__all__ = [
    "AuthenticationFailed",
    "DestinationRefused",
    "FrameRefused",
    "QueueFull",
    "TransactionAborted",
]


class FrameRefused(RemoteProtocolError):
    """ERROR and close; `body` (default: the message) and `headers` go into the ERROR."""

    def __init__(
        self, message: str, body: str = "", headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.body = body
        self.headers = dict(headers or {})


class DestinationRefused(FrameRefused):
    """The destination does not exist or this principal may not use it this way."""


class QueueFull(FrameRefused):
    """A SEND to a generic queue would pass one of the queue budgets (messages or bytes
    of the queue, bytes of every queue, the number of queues)."""


class AuthenticationFailed(Refusal):
    """Credentials missing or wrong; `message` is shown to the client in ERROR."""

    def __init__(self, message: str = "authentication failed", code: int = UNAUTHORIZED) -> None:
        super().__init__(code, message, 401)


class TransactionAborted(Refusal):
    """A held SEND of a transaction that ended without COMMIT: not stored."""

    def __init__(self, transaction: str) -> None:
        super().__init__(SEND_FAILED, f"transaction {transaction} aborted: not stored", 409)
