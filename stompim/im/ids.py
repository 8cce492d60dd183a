"""Ids and sequence numbers as the domain takes them: signed 64-bit, refused by name.

Every id the database holds is a BIGINT: 1..2^63-1. An integer outside that range must
be refused where it enters the domain, with the field named (9001), and never reach SQL,
where SQLite raises from inside its driver and MySQL answers "out of range": the two
engines must behave alike. The bindings check their own wire format first (REST models,
STOMP destinations and headers); these checks are the domain's own, second line.

Accepted forms, as Jackson reads a JSON number or a numeric string: an int, a float
without a fraction (orjson reads integers past 64 bits as floats), a string of ASCII
digits. `bool` is never a number here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stompim.im.errors import BAD_REQUEST, ImError

__all__ = ["INT64_MAX", "ascii_int", "id_list", "id_value", "seq_value"]

INT64_MAX = 2**63 - 1
_MAX_DIGITS = len(str(INT64_MAX))


def _bad(field: str, lowest: int) -> ImError:
    return ImError(BAD_REQUEST, f"{field}: must be an integer from {lowest} to {INT64_MAX}")


def ascii_int(text: str) -> int | None:
    """`text` as a non-negative integer when it is 1..19 ASCII digits, else None.

    (`int()` also takes "²", "٣", "1_000", " 7" and 4,300-digit strings.)
    """
    if not text or len(text) > _MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= 2.0**63 else None
    if isinstance(value, str):
        return ascii_int(value.strip())
    return None


def _in_range(value: Any, field: str, lowest: int) -> int:
    number = _number(value)
    if number is None or not lowest <= number <= INT64_MAX:
        raise _bad(field, lowest)
    return number


def id_value(value: Any, field: str) -> int:
    """An id: 1..2^63-1, else ImError 9001 naming `field`."""
    if type(value) is int and 0 < value <= INT64_MAX:  # the common case, on every send
        return value
    return _in_range(value, field, 1)


def seq_value(value: Any, field: str) -> int:
    """A sequence number or cursor: 0..2^63-1, else ImError 9001 naming `field`."""
    if type(value) is int and 0 <= value <= INT64_MAX:
        return value
    return _in_range(value, field, 0)


def id_list(values: Iterable[Any], field: str) -> list[int]:
    """Every value an id (see `id_value`), in order."""
    return [id_value(v, field) for v in values]
