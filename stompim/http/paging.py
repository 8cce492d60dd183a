"""Offset paging as MyBatis-Plus does it: `current` / `size` in, `{records, total, size,
current, pages}` out.

An endpoint that pages declares `query: PageQuery` (or a subclass that re-declares `size`
and `pageSize` with another maximum, and adds its own parameters), renders the domain's
`stompim.im.paging.Page` with `page_view(page, query)`, and declares `response=Page[Item]`.
Accepted names: `current` (aliases `pageNum`, `page`) from 1, `size` (alias `pageSize`)
from 1 to the endpoint's maximum.  A value that is not such an integer, or two aliases
that disagree, is refused (9001) — never replaced by a default.  Cursor-paged lists
(conversations, history) keep their cursors and do not use this.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Generic, TypeVar

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from stompim.http.fields import Bounded
from stompim.http.models.base import Query, View
from stompim.im.paging import MAX_LIMIT
from stompim.im.paging import Page as DomainPage

T = TypeVar("T")

MAX_CURRENT = 1_000_000_000  # keeps (current - 1) * size far inside 64 bits
DEFAULT_SIZE = 20  # at most every endpoint's maximum
SIZE_DOC = f"records per page (default {DEFAULT_SIZE})"

PageNumber = Annotated[int, Bounded(1, MAX_CURRENT)]


class PageQuery(Query):
    current: PageNumber | None = Field(None, description="page number, from 1 (default 1)")
    page_num: PageNumber | None = Field(None, description="alias of current")
    page: PageNumber | None = Field(None, description="alias of current")
    size: Annotated[int, Bounded(1, MAX_LIMIT)] | None = Field(None, description=SIZE_DOC)
    page_size: Annotated[int, Bounded(1, MAX_LIMIT)] | None = Field(
        None, description="alias of size"
    )

    @model_validator(mode="after")
    def _aliases_agree(self) -> PageQuery:
        _agree({"current": self.current, "pageNum": self.page_num, "page": self.page})
        _agree({"size": self.size, "pageSize": self.page_size})
        return self

    @property
    def number(self) -> int:
        return self.current or self.page_num or self.page or 1

    @property
    def limit(self) -> int:
        return self.size or self.page_size or DEFAULT_SIZE

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.limit


def _agree(given: dict[str, int | None]) -> None:
    named = {name: value for name, value in given.items() if value is not None}
    if len(set(named.values())) > 1:
        listed = ", ".join(f"{name}={value}" for name, value in named.items())
        raise PydanticCustomError("stompim", f"paging parameters disagree: {listed}")


class Page(View, Generic[T]):
    """One page of an offset-paged list (MyBatis-Plus's IPage)."""

    records: list[T]
    total: int = Field(description="records in the whole list")
    size: int = Field(description="records per page, as asked")
    current: int = Field(description="this page's number, from 1")
    pages: int = Field(description="number of pages: ceil(total / size)")


def page_view(page: DomainPage[Any], query: PageQuery) -> dict[str, Any]:
    """The domain page with the paging the client asked for."""
    return {
        "records": page.records,
        "total": page.total,
        "size": query.limit,
        "current": query.number,
        "pages": math.ceil(page.total / query.limit),
    }
