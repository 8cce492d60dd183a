"""Tiny helpers to write the JSON Schema fragments of the OpenAPI document."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer", "format": "int64"}
BOOL: Schema = {"type": "boolean"}
NULL: Schema = {"type": "null"}


def s(base: Schema, **extra: Any) -> Schema:
    """A copy of `base` with more keywords: `s(STR, maxLength=64)`."""
    return {**base, **extra}


def obj(props: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    out: Schema = {"type": "object", "properties": props, **extra}
    if required:
        out["required"] = list(required)
    return out


def arr(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, NULL]}
