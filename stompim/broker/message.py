"""A published message, encoded once and spliced per subscriber.

Fan-out to N subscribers must not encode N frames.  The part of a MESSAGE that is
the same for every subscriber (destination, user headers, body) is encoded once
per STOMP version with `stompim.frames.encode`; each delivery prepends its own
first lines (``subscription``, ``message-id``, ``ack``, ``redelivered``).  The
result is byte-for-byte a frame the codec parses back.

Call order: build a `Message` per publish; `Subscription.prefix` is computed once
per subscription (escaped for its session's version); `render()` per delivery.
"""

from __future__ import annotations

import itertools

from stompim.frames import Command, Frame, V1_0, V1_1, encode

__all__ = ["Message", "escape_value", "STRIPPED_SEND_HEADERS"]

# SEND headers that never travel to MESSAGE: the broker sets its own or they
# only mean something to the broker.
STRIPPED_SEND_HEADERS = frozenset(
    {"destination", "transaction", "receipt", "message-id", "subscription", "ack",
     "redelivered"}
)

_ids = itertools.count(1)


def escape_value(value: str, version: str) -> str:
    """Header escaping for the values the broker splices in (spec "Value Encoding")."""
    if version == V1_0:
        return value
    value = value.replace("\\", "\\\\").replace("\n", "\\n").replace(":", "\\c")
    if version != V1_1:
        value = value.replace("\r", "\\r")
    return value


def _sendable_in_10(name: str, value: str) -> bool:
    return ":" not in name and "\n" not in name and "\n" not in value and not value.endswith("\r")


class Message:
    """One published message. `headers` are the user headers in wire order."""

    __slots__ = ("destination", "headers", "body", "message_id", "seq", "_tpl", "_text")

    def __init__(
        self,
        destination: str,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        node_id: str = "",
    ) -> None:
        self.destination = destination
        self.headers = headers
        self.body = body
        self.message_id = f"{node_id}m{next(_ids)}".encode()
        seq = None
        for name, value in headers:
            if name == "seq":
                seq = value
                break
        self.seq = seq
        self._tpl: dict[str, bytes] = {}
        self._text: bool | None = None

    @property
    def is_text(self) -> bool:
        """True when the whole frame is valid UTF-8 (WebSocket text message)."""
        if self._text is None:
            try:
                self.body.decode("utf-8")
                self._text = True
            except UnicodeDecodeError:
                self._text = False
        return self._text

    def template(self, version: str) -> bytes:
        """Encoded frame for `version` without its command line."""
        tpl = self._tpl.get(version)
        if tpl is None:
            headers = (("destination", self.destination),) + self.headers
            if version == V1_0:
                headers = tuple(h for h in headers if _sendable_in_10(*h))
            raw = encode(Frame(Command.MESSAGE, headers, self.body), version)
            tpl = raw[len(b"MESSAGE\n"):]
            self._tpl[version] = tpl
        return tpl

    def render(self, prefix: bytes, version: str, ack_id: str | None, redelivered: bool) -> bytes:
        """The MESSAGE for one subscription; `prefix` ends just before the message id."""
        parts = [prefix, self.message_id]
        if ack_id is not None:
            parts.append(b"\nack:")
            parts.append(ack_id.encode())
        if redelivered:
            parts.append(b"\nredelivered:true")
        parts.append(b"\n")
        parts.append(self.template(version))
        return b"".join(parts)
