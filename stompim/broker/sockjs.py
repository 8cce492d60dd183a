"""SockJS, sans-I/O: the frames and one session's state, as sockjs-client 1.x speaks them.

Spring's `registry.addEndpoint("/ws").withSockJS()` serves STOMP through SockJS (the
SockJS protocol 0.3.3); front ends written for it call `new SockJS(url)`.  This module
holds what SockJS adds on top of the transports, with no I/O and no clock of its own
(the time is passed in), so it is tested without sockets; stompim.broker.http_sockjs
is the aiohttp adapter that serves it.

Frames, server to client (each a str; a transport wraps it: a WebSocket text message,
a line of an xhr response, an EventSource `data:` event):

* ``o``: the session is open (first frame, once);
* ``h``: heartbeat, sent when nothing else was sent for `heartbeat` seconds;
* ``a["m1","m2"]``: messages, a JSON array of strings;
* ``c[3000,"Go away!"]``: the session is closed (repeated to every later receiver).

Client to server: a JSON array of strings (xhr_send body, a WebSocket message; a
single JSON string is accepted too).  Each string is a chunk of STOMP text.

A session queues messages for its client until a receiver (a polling request, a
stream, a WebSocket) takes them; at most one receiver at a time (a second one gets
``c[2010,"Another connection still open"]``).  It expires once it has had no
receiver for `disconnect_delay` seconds: a client that stops polling leaves behind a
queue that the broker bounds in bytes (`queued_bytes` is part of the Link's
`buffered()`, so the broker's slow-consumer rule drops it) and in time (this
expiry).  Queued messages are at most `max_queued_bytes`; past that `send` returns
False and the adapter aborts the session.

Call order per session: `SockJsSession(id, now, ...)`; then any of `send`, `close`,
`attach` / `take` / `detach` (one receiver at a time), `tick` from the adapter's
periodic sweep; `expired(now)` says when to forget it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import orjson

__all__ = [
    "ANOTHER_CONNECTION",
    "GO_AWAY",
    "HEARTBEAT",
    "OPEN",
    "SockJsError",
    "SockJsSession",
    "close_frame",
    "message_frame",
    "parse_messages",
    "valid_segment",
]

OPEN = "o"
HEARTBEAT = "h"
GO_AWAY = (3000, "Go away!")
"""The close frame of a session the server ended (the SockJS protocol's own choice)."""
ANOTHER_CONNECTION = (2010, "Another connection still open")

# Characters some browsers mangle inside a streamed JSON string (the SockJS protocol
# asks servers to escape them): zero-width and line/paragraph separators, specials.
_UNSAFE = re.compile("[\u200c-\u200f\u2028-\u202f\u2060-\u206f\ufff0-\uffff]")
_SEGMENT = re.compile(r"[^/.]+")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def message_frame(messages: Sequence[str]) -> str:
    """``a[...]``: the messages as a JSON array of strings, unsafe characters escaped."""
    text = orjson.dumps(list(messages)).decode("utf-8")
    return "a" + _UNSAFE.sub(_escape, text)


def close_frame(code: int, reason: str) -> str:
    return "c" + orjson.dumps([code, reason]).decode("utf-8")


class SockJsError(Exception):
    """A client payload SockJS refuses; the text is the protocol's answer body."""


def parse_messages(payload: bytes | str) -> list[str]:
    """The messages of a client payload: a JSON array of strings (or one string)."""
    if not payload:
        raise SockJsError("Payload expected.")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise SockJsError("Broken JSON encoding.") from None
    if isinstance(data, str):
        return [data]
    if not isinstance(data, list) or not all(isinstance(m, str) for m in data):
        raise SockJsError("Broken JSON encoding.")
    return data


def valid_segment(text: str) -> bool:
    """Server and session ids of a transport URL: non-empty, no dot, no slash."""
    return _SEGMENT.fullmatch(text) is not None


class SockJsSession:
    """One SockJS session's queue, receiver and clocks (see the module docstring)."""

    __slots__ = (
        "_close", "_queue", "attached", "disconnect_delay", "heartbeat", "id",
        "idle_since", "last_sent", "max_queued_bytes", "opened", "queued_bytes",
    )

    def __init__(
        self, session_id: str, now: float, *, heartbeat: float, disconnect_delay: float,
        max_queued_bytes: int,
    ) -> None:
        self.id = session_id
        self.heartbeat = heartbeat
        self.disconnect_delay = disconnect_delay
        self.max_queued_bytes = max_queued_bytes
        self.opened = False          # the ``o`` frame was taken
        self.attached = False
        self.idle_since = now        # when the last receiver left (or the session began)
        self.last_sent = now
        self.queued_bytes = 0
        self._queue: list[str] = []
        self._close: str | None = None   # the close frame, once closed

    # ------------------------------------------------------------ the broker side

    def send(self, messages: Sequence[str]) -> bool:
        """Queue messages for the client; False (nothing queued) past `max_queued_bytes`
        or once closed."""
        if self._close is not None:
            return False
        size = sum(len(m) for m in messages)
        if self.queued_bytes + size > self.max_queued_bytes:
            return False
        self._queue.extend(messages)
        self.queued_bytes += size
        return True

    def close(self, code: int = GO_AWAY[0], reason: str = GO_AWAY[1], *,
              drop: bool = False) -> None:
        """Close: queued messages still go out first (unless `drop`), then the close frame."""
        if self._close is not None:
            return
        if drop:
            self._queue.clear()
            self.queued_bytes = 0
        self._close = close_frame(code, reason)

    # ----------------------------------------------------------- the receivers

    def attach(self, now: float) -> bool:
        """A receiver wants frames; False when another one is attached (answer it
        `close_frame(*ANOTHER_CONNECTION)` and end it)."""
        if self.attached:
            return False
        self.attached = True
        self.last_sent = now
        return True

    def pending(self, now: float) -> bool:
        """Whether the attached receiver has something to take now (a heartbeat too)."""
        return (not self.opened or self._close is not None or bool(self._queue)
                or self.heartbeat_due(now))

    @property
    def closed(self) -> bool:
        return self._close is not None

    def take(self, now: float) -> list[str]:
        """The frames for the attached receiver, in order, now owed to it: ``o`` for
        a new session, then one ``a[...]`` of every queued message, then the close
        frame once closed; or a heartbeat ``h`` when nothing else is owed and one is due."""
        frames: list[str] = []
        if not self.opened:
            self.opened = True
            frames.append(OPEN)
        if self._queue:
            frames.append(message_frame(self._queue))
            self._queue = []
            self.queued_bytes = 0
        if self._close is not None:
            frames.append(self._close)
        elif not frames and self.heartbeat_due(now):
            frames.append(HEARTBEAT)
        if frames:
            self.last_sent = now
        return frames

    def heartbeat_due(self, now: float) -> bool:
        """A receiver is attached and nothing went to it for `heartbeat` seconds (then
        `take` gives it HEARTBEAT)."""
        return (self.attached and self.opened and self._close is None
                and now - self.last_sent >= self.heartbeat)

    def detach(self, now: float) -> None:
        """The receiver finished (answered, stream ended, client gone)."""
        if self.attached:
            self.attached = False
            self.idle_since = now

    def expired(self, now: float) -> bool:
        """No receiver for `disconnect_delay` seconds: forget the session (ending its
        STOMP connection if still open)."""
        return not self.attached and now - self.idle_since >= self.disconnect_delay
