"""The scalar types of the REST edge, read the way Spring Boot's Jackson reads JSON.

Every model field of stompim/http/models uses one of these, so a rule holds for every
endpoint at once:

    Int64 / Id / Count   a JSON integer (3, or 3.0 as JSON Schema counts it) or a string
                         of ASCII digits ("3" -> 3), inside the signed 64-bit range (ids
                         >= 1, counts >= 0); true, 1.5, 1e30, "3.0", "²", [] and {} are
                         refused.  The range is checked
                         here, so no database ever sees an integer it cannot store.
                         `Annotated[int, Bounded(0, 2)]` for other bounds.
    Text                 a JSON string, or a number written as one (13800000001 ->
                         "13800000001"); true, [] and {} are refused.
    Flag                 true / false, or the strings "true" / "false".
    CommaSeparated       `Annotated[list[Id], CommaSeparated()]`: a query value "1,2,3"
                         (or the parameter repeated) -> [1, 2, 3].
A list field bounds its length with `Field(max_length=n, fail_fast=True)`.

A refusal raises PydanticCustomError with a message meant for the client ("must be an
integer ≥ 1"); stompim/http/inputs.py prefixes the field name and turns it into
ImError 9001.  Messages contain no braces (pydantic formats them with the context).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, GetCoreSchemaHandler, GetJsonSchemaHandler, WithJsonSchema
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_DIGITS = re.compile(r"[+-]?[0-9]+")  # ASCII only: str.isdigit() would take "²" and "٣"
_MAX_DIGITS = 20  # longer is out of range whatever it says; never int() a megabyte of digits


def _refuse(message: str) -> PydanticCustomError:
    return PydanticCustomError("stompim", message)


def integer_rule(minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> str:
    """How an integer field is described to a client that got it wrong."""
    if maximum != INT64_MAX:
        return f"must be an integer from {minimum} to {maximum}"
    return "must be a 64-bit integer" if minimum == INT64_MIN else f"must be an integer ≥ {minimum}"


@dataclass(frozen=True)
class Bounded:
    """`Annotated[int, Bounded(1)]`: an integer field in [minimum, maximum], read from a
    JSON integer or a string of ASCII digits; documented as int64 with those bounds."""

    minimum: int = INT64_MIN
    maximum: int = INT64_MAX

    def __post_init__(self) -> None:
        if not INT64_MIN <= self.minimum <= self.maximum <= INT64_MAX:
            raise ValueError(f"bounds {self.minimum}..{self.maximum} leave the 64-bit range")

    def parse(self, value: Any) -> int:
        if value is None:  # null is "not given"; an optional field never gets here
            raise _refuse("is required")
        if isinstance(value, bool):  # a bool is an int in Python, never in JSON
            raise _refuse(integer_rule(self.minimum, self.maximum))
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)  # 3.0 is an integer in JSON Schema and to Jackson; 1e30 is
            # one too, and the range check below refuses it
        elif isinstance(value, str) and _DIGITS.fullmatch(text := value.strip()):
            if len(text.lstrip("+-")) > _MAX_DIGITS:
                raise _refuse(self._out_of_range(None))
            number = int(text)
        else:
            raise _refuse(integer_rule(self.minimum, self.maximum))
        if not self.minimum <= number <= self.maximum:
            raise _refuse(self._out_of_range(number))
        return number

    def _out_of_range(self, number: int | None) -> str:
        if (number is not None and number < self.minimum) or self.maximum != INT64_MAX:
            return integer_rule(self.minimum, self.maximum)
        return f"must be an integer ≤ {INT64_MAX}"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.parse)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "integer",
            "format": "int64",
            "minimum": self.minimum,
            "maximum": self.maximum,
        }


Int64 = Annotated[int, Bounded()]
Id = Annotated[int, Bounded(1)]
"""A row id: 1 .. 2^63-1."""
Count = Annotated[int, Bounded(0)]
"""A sequence number or a count: 0 .. 2^63-1."""


def _text(value: Any) -> str:
    if value is None:
        raise _refuse("is required")
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # Jackson writes a number sent for a String field as its text
    raise _refuse("must be a string")


Text = Annotated[str, BeforeValidator(_text)]


def _flag(value: Any) -> bool:
    if value is None:
        raise _refuse("is required")
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    raise _refuse("must be true or false")


Flag = Annotated[bool, BeforeValidator(_flag), WithJsonSchema({"type": "boolean"})]


class CommaSeparated:
    """`Annotated[list[Id], CommaSeparated()]`: a query parameter `?ids=1,2,3` (or the
    parameter repeated), documented as the comma-separated string it is."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(_csv, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": f"^({_ID_TEXT}(,{_ID_TEXT})*)?$"}


_ID_TEXT = "[1-9][0-9]{0,18}"  # 1 .. 10^19-1; Bounded refuses what passes 2^63-1


def _csv(value: Any) -> list[str]:
    parts = value if isinstance(value, list) else [value]
    if not all(isinstance(p, str) for p in parts):
        raise _refuse("must be comma-separated integers")
    return [item for part in parts for item in part.split(",") if item.strip()]
