"""The cluster bridge's wire format: a batch of records in one Redis PUBLISH.

Binary, no base64; bodies may hold any byte::

    batch  := MAGIC origin:part record*
    record := kind:u8 count:u16 part{count}
    part   := length:u32 bytes          (big-endian lengths)

A record of kind MESSAGE has parts destination, body, then header name/value pairs;
CLOSE_SESSIONS has user id, reason and optionally the token id; END_SUBSCRIPTIONS has
user id, destination, reason. A payload that is not a well-formed batch raises
`BridgeDecodeError` (another node, or anyone with access to the channel, broke the
format: a remote protocol error of the error tree). Pure: no I/O, no asyncio.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stompim.errors import RemoteProtocolError

__all__ = [
    "BridgeDecodeError",
    "CloseSessions",
    "EndSubscriptions",
    "Event",
    "Headers",
    "RecordKind",
    "RemoteMessage",
    "batch_head",
    "decode_batch",
    "decode_origin",
    "decode_records",
    "decode_wanted",
    "encode_batch",
    "encode_record",
]

Headers = tuple[tuple[str, str], ...]

MAGIC = b"SIB1"
_PART = struct.Struct(">I")
_RECORD = struct.Struct(">BH")


class RecordKind(enum.IntEnum):
    MESSAGE = 1
    """A topic message to deliver to local subscribers."""
    CLOSE_SESSIONS = 2
    """Close a user's sessions (all, or those opened with one token)."""
    END_SUBSCRIPTIONS = 3
    """Drop a user's subscriptions to one destination."""


@dataclass(frozen=True, slots=True)
class RemoteMessage:
    destination: str
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class CloseSessions:
    user_id: int
    reason: str
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class EndSubscriptions:
    user_id: int
    destination: str
    reason: str


Event = RemoteMessage | CloseSessions | EndSubscriptions

_MESSAGE = int(RecordKind.MESSAGE)
_RECORD_SIZE = _RECORD.size


class BridgeDecodeError(RemoteProtocolError, ValueError):
    """A payload on the cluster channel is not a well-formed batch."""


# ----------------------------------------------------------------------- codec


def _parts(event: Event) -> tuple[RecordKind, list[bytes]]:
    if isinstance(event, RemoteMessage):
        parts = [event.destination.encode(), bytes(event.body)]
        for name, value in event.headers:
            parts.append(name.encode())
            parts.append(value.encode())
        return RecordKind.MESSAGE, parts
    if isinstance(event, CloseSessions):
        parts = [str(event.user_id).encode(), event.reason.encode()]
        if event.token_id is not None:
            parts.append(event.token_id.encode())
        return RecordKind.CLOSE_SESSIONS, parts
    return RecordKind.END_SUBSCRIPTIONS, [
        str(event.user_id).encode(), event.destination.encode(), event.reason.encode()
    ]


def encode_record(event: Event) -> bytes:
    kind, parts = _parts(event)
    if len(parts) > 0xFFFF:
        raise ValueError("too many headers for a cluster record")
    chunks = [_RECORD.pack(kind, len(parts))]
    for part in parts:
        chunks.append(_PART.pack(len(part)))
        chunks.append(part)
    return b"".join(chunks)


def encode_batch(origin: str, events: Sequence[Event]) -> bytes:
    """One payload for the cluster channel (see the module docstring)."""
    return batch_head(origin) + b"".join(encode_record(e) for e in events)


def batch_head(origin: str) -> bytes:
    """The bytes every batch of `origin` starts with."""
    raw = origin.encode()
    return MAGIC + _PART.pack(len(raw)) + raw


def _read_part(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(data):
        raise BridgeDecodeError("truncated part length")
    (length,) = _PART.unpack_from(data, pos)
    pos += 4
    end = pos + length
    if end > len(data):
        raise BridgeDecodeError("truncated part")
    return data[pos:end], end


def decode_origin(data: bytes) -> tuple[str, int]:
    """(origin node id, offset of the first record); cheap, for the echo check."""
    if not data.startswith(MAGIC):
        raise BridgeDecodeError("not a cluster batch")
    raw, pos = _read_part(data, len(MAGIC))
    try:
        return raw.decode(), pos
    except UnicodeDecodeError:
        raise BridgeDecodeError("origin is not UTF-8") from None


def _event(kind: int, parts: list[bytes]) -> Event:
    try:
        if kind == RecordKind.MESSAGE:
            if len(parts) < 2 or len(parts) % 2:
                raise BridgeDecodeError("bad MESSAGE record")
            text = [p.decode() for p in parts[2:]]
            headers = tuple(zip(text[0::2], text[1::2], strict=False))
            return RemoteMessage(parts[0].decode(), headers, parts[1])
        if kind == RecordKind.CLOSE_SESSIONS:
            if len(parts) not in (2, 3):
                raise BridgeDecodeError("bad CLOSE_SESSIONS record")
            token = parts[2].decode() if len(parts) == 3 else None
            return CloseSessions(int(parts[0]), parts[1].decode(), token)
        if kind == RecordKind.END_SUBSCRIPTIONS:
            if len(parts) != 3:
                raise BridgeDecodeError("bad END_SUBSCRIPTIONS record")
            return EndSubscriptions(int(parts[0]), parts[1].decode(), parts[2].decode())
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, BridgeDecodeError):
            raise
        raise BridgeDecodeError(f"bad record field: {exc}") from None
    raise BridgeDecodeError(f"unknown record kind {kind}")


def decode_records(data: bytes, pos: int) -> list[Event]:
    """Every record of `data` from `pos` on (see `decode_wanted`)."""
    return decode_wanted(data, pos, None)[0]


def decode_wanted(
    data: bytes, pos: int, wanted: Callable[[str], bool] | None
) -> tuple[list[Event], int]:
    """(events, records read) from `pos` on: a MESSAGE whose destination `wanted`
    refuses is checked for framing and skipped without decoding its headers or copying
    its body (a node where nobody subscribes to it: most records a node hears).

    One pass over `data`, slicing the bytes directly (no memoryview, no part list for a
    skipped record). A malformed payload raises BridgeDecodeError before any event is
    returned, so a batch is applied whole or not at all; a skipped record's headers are
    not checked to be UTF-8, since nothing reads them.
    """
    unpack_part = _PART.unpack_from
    unpack_record = _RECORD.unpack_from
    end_of_data = len(data)
    events: list[Event] = []
    records = 0
    try:
        while pos < end_of_data:
            if pos + _RECORD_SIZE > end_of_data:
                raise BridgeDecodeError("truncated record head")
            kind, count = unpack_record(data, pos)
            pos += _RECORD_SIZE
            records += 1
            if kind == _MESSAGE and count >= 2 and not count % 2:  # MESSAGE, well formed
                (length,) = unpack_part(data, pos)
                end = pos + 4 + length
                if end > end_of_data:
                    raise BridgeDecodeError("truncated part")
                destination = data[pos + 4:end].decode()
                pos = end
                if wanted is not None and not wanted(destination):
                    for _ in range(count - 1):
                        (length,) = unpack_part(data, pos)
                        pos += 4 + length
                    if pos > end_of_data:
                        raise BridgeDecodeError("truncated part")
                    continue
                (length,) = unpack_part(data, pos)
                end = pos + 4 + length
                body = data[pos + 4:end]
                pos = end
                text = []
                for _ in range(count - 2):
                    (length,) = unpack_part(data, pos)
                    end = pos + 4 + length
                    text.append(data[pos + 4:end].decode())
                    pos = end
                if pos > end_of_data:
                    raise BridgeDecodeError("truncated part")
                events.append(RemoteMessage(
                    destination, tuple(zip(text[0::2], text[1::2], strict=True)), body))
                continue
            parts = []
            for _ in range(count):
                part, pos = _read_part(data, pos)
                parts.append(part)
            events.append(_event(kind, parts))
    except struct.error:
        raise BridgeDecodeError("truncated part length") from None
    except UnicodeDecodeError as exc:
        raise BridgeDecodeError(f"bad record field: {exc}") from None
    return events, records


def decode_batch(data: bytes) -> tuple[str, list[Event]]:
    """(origin, events) of a payload; BridgeDecodeError when malformed."""
    origin, pos = decode_origin(data)
    return origin, decode_records(data, pos)
