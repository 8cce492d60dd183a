"""Base classes of the declared REST models, and the `Result` envelope.

    Body       a JSON request body.  Jackson-like: unknown properties are ignored,
               camelCase names only; the field types (stompim/http/fields.py) coerce
               "3" -> 3 and 3 -> "3".  A field that is null counts as not given.
    Query      query-string parameters (the declared ones are read, others ignored).
    Path       path parameters (`{userId}`); every one of them is declared.
    Headers    request headers an endpoint reads.
    View       a response body (`data` of the envelope): validated from the domain's
               value (a camelCase dict, or a record with snake_case attributes) and
               written with camelCase names.
    Result[T]  the envelope {code, message, data, timestamp}; the OpenAPI document
               shows it around every View.

Field names are snake_case in Python and camelCase on the wire (alias generator), so a
model is declared once and both the parser and the OpenAPI document read it.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")


class Input(BaseModel):
    """What the four kinds of input share; an endpoint declares one of the kinds below."""

    model_config = ConfigDict(
        extra="ignore",
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        frozen=True,
    )

    def given(self) -> dict[str, object]:
        """The fields the client gave a value (not null), by wire name: a partial update."""
        return {
            (type(self).model_fields[name].alias or name): value
            for name, value in self
            if value is not None
        }


class Body(Input):
    pass


class Query(Input):
    pass


class Path(Input):
    pass


class Headers(Input):
    pass


class View(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=True,
        from_attributes=True,
        serialize_by_alias=True,
    )


class Result(BaseModel, Generic[T]):
    """Every REST answer. code 200 and message "success" on success; otherwise a business
    code (1xxx accounts, 2xxx friends, 3xxx messages, 4xxx groups, 5xxx notifications,
    9xxx request errors) and data null."""

    code: int = Field(description="200 on success, else the error code")
    message: str = Field(description='"success", or what was refused and why')
    data: T
    timestamp: int = Field(description="epoch milliseconds")
