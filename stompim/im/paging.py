"""Offset pages of a domain list: what a list method returns when its caller pages it.

A list method takes `offset` and `limit` and returns `Page(records, total)`: the records
of that window and how many there are in all.  Each binding renders it in its own shape
(REST: MyBatis-Plus's {records, total, size, current, pages}, stompim/http/paging.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from stompim.im.errors import BAD_REQUEST, ImError

T = TypeVar("T")

MAX_LIMIT = 100
"""Records per page of a paged list, unless the list says otherwise (group members: 500)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    records: list[T]
    total: int


def check_window(offset: int, limit: int, max_limit: int) -> None:
    """The domain's own guard (bindings check first, with their parameter names)."""
    if offset < 0:
        raise ImError(BAD_REQUEST, "offset: must not be negative")
    if not 1 <= limit <= max_limit:
        raise ImError(BAD_REQUEST, f"size: must be an integer from 1 to {max_limit}")


def window(items: Sequence[T], offset: int, limit: int) -> list[T]:
    """The slice of a list already in memory (lists the domain bounds: group members,
    a user's friend requests, search hits)."""
    return list(items[offset : offset + limit])
