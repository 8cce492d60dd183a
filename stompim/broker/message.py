"""A published message, encoded once and spliced per subscriber.

Fan-out to N subscribers must not encode N frames.  The part of a MESSAGE that is
the same for every subscriber (message-id, destination, user headers, body) is
encoded once per STOMP version with `stompim.frames.encode`; each delivery
prepends its own first line(s) (``subscription``, and ``ack`` / ``redelivered``
when they apply).  The result is byte-for-byte a frame the codec parses back.

The message id: a server-side publisher (the IM layer's stored message id, a
replayed row) may name it with a ``message-id`` header; that value is then the
MESSAGE's ``message-id`` for every subscriber.  Otherwise (client SENDs, whose
``message-id`` header is stripped) the broker makes one up.  Headers a delivery
sets itself (``message-id``, ``subscription``, ``ack``, ``redelivered``,
``destination``) never reach the shared part, so no frame carries one twice.

Call order: build a `Message` per publish; `Subscription.prefix` is computed once
per subscription (escaped for its session's version); `tail(version)` or
`render()` per delivery.
"""

from __future__ import annotations

import itertools

from stompim.frames import V1_0, V1_1, Command, Frame, encode

__all__ = [
    "PER_DELIVERY_HEADERS",
    "STRIPPED_SEND_HEADERS",
    "Headers",
    "Message",
    "escape_value",
    "unacked_size",
]

Headers = tuple[tuple[str, str], ...]
"""User headers of a published message, in wire order."""

# SEND headers that never travel to MESSAGE: the broker sets its own or they
# only mean something to the broker.
STRIPPED_SEND_HEADERS = frozenset(
    {"destination", "transaction", "receipt", "message-id", "subscription", "ack",
     "redelivered"}
)

# Headers a delivery writes itself; kept out of the shared part of the frame.
PER_DELIVERY_HEADERS = frozenset(
    {"destination", "message-id", "subscription", "ack", "redelivered"}
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
    """One published message.

    `headers` are the shared user headers in wire order; `message_id` the raw
    (unescaped) id as bytes, the key of 1.0/1.1 ACKs and of replay de-duplication.
    """

    __slots__ = (
        "_seq",
        "_tails",
        "_text",
        "_tpls",
        "body",
        "destination",
        "headers",
        "message_id",
    )

    def __init__(
        self,
        destination: str,
        headers: Headers,
        body: bytes,
        node_id: str = "",
    ) -> None:
        self.destination = destination
        self.body = body
        self._tails: dict[str, bytes] = {}
        self._tpls: dict[str, bytes] | None = None
        self._text: bool | None = None
        self._seq: int | None = -1  # -1: not read yet
        supplied: str | None = None
        special = False
        for name, _ in headers:
            if name in PER_DELIVERY_HEADERS:
                special = True
                break
        if special:
            kept: list[tuple[str, str]] = []
            for name, value in headers:
                if name in PER_DELIVERY_HEADERS:
                    if name == "message-id" and supplied is None:
                        supplied = value
                    continue
                kept.append((name, value))
            headers = tuple(kept)
        self.headers = headers
        if supplied and "\n" not in supplied and "\r" not in supplied:
            self.message_id = supplied.encode()
        else:
            self.message_id = f"{node_id}m{next(_ids)}".encode()

    @property
    def seq(self) -> int | None:
        """The ``seq`` header as a number (None: absent or not ASCII digits); read by
        the ordered delivery of a handler's streams (DestinationHandler.ordered)."""
        seq = self._seq
        if seq == -1:
            seq = None
            for name, value in self.headers:
                if name == "seq":
                    if value.isascii() and value.isdigit() and len(value) <= 18:
                        seq = int(value)
                    break
            self._seq = seq
        return seq

    @property
    def is_text(self) -> bool:
        """True when the whole frame is valid UTF-8 (WebSocket text message)."""
        if self._text is None:
            if self.body.isascii():
                self._text = True
                return True
            try:
                self.body.decode("utf-8")
                self._text = True
            except UnicodeDecodeError:
                self._text = False
        return self._text

    def template(self, version: str) -> bytes:
        """Encoded frame for `version` from its destination header on (no command
        line, no per-delivery headers)."""
        tpls = self._tpls
        if tpls is None:
            tpls = self._tpls = {}
        tpl = tpls.get(version)
        if tpl is None:
            headers = (("destination", self.destination), *self.headers)
            if version == V1_0:
                headers = tuple(h for h in headers if _sendable_in_10(*h))
            raw = encode(Frame(Command.MESSAGE, headers, self.body), version)
            tpl = tpls[version] = raw[len(b"MESSAGE\n"):]
        return tpl

    def wire_id(self, version: str) -> bytes:
        mid = self.message_id
        if b"\\" in mid or b":" in mid:
            return escape_value(mid.decode(), version).encode()
        return mid

    def tail(self, version: str) -> bytes:
        """``<message-id>\\n`` plus the template: what follows a prefix ending in
        ``message-id:`` for an auto-ack delivery (one concatenation per delivery).

        Also settles `is_text`, so a delivery may read `_text` after this call."""
        tail = self._tails.get(version)
        if tail is None:
            tail = self._plain_tail()
            if tail is None:
                tail = self.wire_id(version) + b"\n" + self.template(version)
            self._tails[version] = tail
            if self._text is None:
                self._text = self.is_text
        return tail

    def _plain_tail(self) -> bytes | None:
        """The tail when no id, name or value needs escaping or filtering in any
        version (the usual case): built directly, the same bytes `encode` makes.

        The check counts separators: with no ":" or EOL inside the texts there is
        exactly one ":" per header line and one EOL per line."""
        headers = self.headers
        text = f"{self.message_id.decode()}\ndestination:{self.destination}\n" + "".join(
            [f"{name}:{value}\n" for name, value in headers])
        lines = len(headers) + 1
        if ("\\" in text or "\r" in text or text.count(":") != lines
                or text.count("\n") != lines + 1):
            return None
        body = self.body
        if "content-length:" in text:
            length = next(value for name, value in headers if name == "content-length")
            if length != str(len(body)):
                return None   # encode() reports the mismatch
            text += "\n"
        elif body:
            text += f"content-length:{len(body)}\n\n"
        else:
            text += "\n"
        try:
            head = text.encode()
        except UnicodeEncodeError:
            return None
        return b"".join((head, body, b"\x00"))

    def render(self, prefix: bytes, version: str, ack_id: str | None, redelivered: bool) -> bytes:
        """The MESSAGE for one subscription; `prefix` ends just before the message id."""
        if ack_id is None and not redelivered:
            return prefix + self.tail(version)
        parts = [prefix, self.wire_id(version)]
        if ack_id is not None:
            parts.append(b"\nack:")
            parts.append(ack_id.encode())
        if redelivered:
            parts.append(b"\nredelivered:true")
        parts.append(b"\n")
        parts.append(self.template(version))
        return b"".join(parts)


def unacked_size(message: Message) -> int:
    """What an unacknowledged delivery of `message` holds, for stomp.max_unacked_bytes:
    its body and headers (as stompim.broker.records.held_size counts a held frame)."""
    return len(message.body) + sum([len(k) + len(v) + 2 for k, v in message.headers])
