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

A client SEND taken by the SEND fast path (stompim.broker.send_fastpath) becomes a
`plain_message`: its tail is cut from the SEND's own bytes (the same in every
version, because nothing in it needs escaping), and its `headers` are parsed from
those bytes only if something asks for them (a client-ack delivery, a queue's
accounting, the cluster bridge), so a 1->1 or fan-out delivery in auto-ack never
builds them.

Call order: build a `Message` (or a `plain_message`) per publish; `Subscription.prefix`
is computed once per subscription (escaped for its session's version); `tail(version)`
or `render()` per delivery.
"""

from __future__ import annotations

import itertools

from stompim.frames import V1_0, V1_1, V1_2, Command, Frame, encode

__all__ = [
    "PER_DELIVERY_HEADERS",
    "STRIPPED_SEND_HEADERS",
    "Headers",
    "Message",
    "escape_value",
    "message_ids",
    "plain_message",
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

message_ids = itertools.count(1)
"""The numbers of the ids the broker makes up (``<node id>m<n>``), one sequence per process."""


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
        "_headers",
        "_raw",
        "_seq",
        "_tails",
        "_text",
        "_tpls",
        "body",
        "destination",
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
        self._headers: Headers | None = headers
        self._raw: bytes | None = None
        if supplied and "\n" not in supplied and "\r" not in supplied:
            self.message_id = supplied.encode()
        else:
            self.message_id = f"{node_id}m{next(message_ids)}".encode()

    @property
    def headers(self) -> Headers:
        """The user headers in wire order (of a `plain_message`: parsed on first use)."""
        headers = self._headers
        if headers is None:
            raw = self._raw
            assert raw is not None
            pairs = [line.partition(":") for line in raw.decode().split("\n")[1:-1]]
            headers = self._headers = tuple([(name, value) for name, _, value in pairs])
        return headers

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


_new_message = Message.__new__


def plain_message(
    destination: str, lines: bytes, body: bytes, message_id: bytes, tail: bytes
) -> Message:
    """The message of a client SEND taken by the SEND fast path, built from its bytes.

    `lines` are the SEND's header lines as received, without ``destination`` and the
    headers a MESSAGE never carries: each one ``\\n<name>:<value>``, then the LF that
    ended the last (just ``\\n`` when there is none), all UTF-8 with nothing to escape in
    any version (no ``\\\\``, no CR, one ``:`` per line).  `message_id` is one the
    broker made up (``message_ids``, nothing to escape in it either) and `tail` what
    `tail(version)` returns for every version: `message_id`, the ``destination`` line,
    `lines`, a ``content-length`` line unless `lines` has one (none for an empty body),
    the empty line, `body` and NUL: the bytes `Message(...).tail(version)` makes of the
    same message (tests/broker/test_send_fastpath.py checks it)."""
    message: Message = _new_message(Message)
    message.destination = destination
    message.body = body
    message._headers = None
    message._raw = lines
    message.message_id = message_id
    message._tails = {V1_0: tail, V1_1: tail, V1_2: tail}
    message._tpls = None
    message._seq = -1
    message._text = True if body.isascii() else None
    if message._text is None:
        message._text = message.is_text
    return message
