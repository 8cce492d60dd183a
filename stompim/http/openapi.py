"""The OpenAPI 3.1 document, generated from the endpoints' declared models.

Nothing here describes a field: request bodies, parameters and responses come from the
pydantic models each handler declares (stompim/http/api.py), through pydantic's JSON
Schema generator, so the document says what the parser accepts and what the renderer
writes.  Every success response is `Result<T>` (components `Result<Name>`, as springdoc
names them) and every error the `ResultVoid` envelope under `default`.

Call order: `build_openapi(registry)` once every route module registered (the system
routes cache the result per app).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema

from stompim import __version__
from stompim.http.api import ApiRegistry, Endpoint, adapter_for
from stompim.http.models.base import Result

REF = "#/components/schemas/{model}"
_ENVELOPE: Any = Result  # parametrized with each endpoint's response type at run time
_PARAMETER_KINDS = (("path", "path"), ("headers", "header"), ("query", "query"))

DESCRIPTION = """\
Every response is a `Result` envelope `{code, message, data, timestamp}`; code 200 is
success, any other code names the refusal (1xxx accounts, 2xxx friends, 3xxx messages,
4xxx groups, 5xxx notifications, 9xxx request errors; 9503 a dependency is down).

Request JSON is read as Spring Boot's Jackson reads it: unknown properties are ignored,
numeric strings are accepted for integers ("7" = 7) and numbers for strings, null means
"not given" on partial updates, and a whole object read from the API may be sent back.
Integers are 64-bit; ids are >= 1. A refusal of the input is code 9001 naming the field.

Two kinds of lists:
* offset-paged (MyBatis-Plus `IPage`): query `current` (aliases `pageNum`, `page`), from 1,
  and `size` (alias `pageSize`); data `{records, total, size, current, pages}`. A paging
  value that is not an integer in range is refused (9001), never replaced by a default.
* cursor-paged (conversation list: `cursor` + `limit` -> `{list, nextCursor, hasMore}`;
  message history: `beforeSeq` / `afterSeq` + `limit` -> a list ordered by `seq`).

HTTP status: a refusal answers a fitting 4xx (or 200 with the code in the envelope when
the node runs with `http.error_status = "ok"`); 503 when a dependency is down, in both modes.
"""


class _SpringNames(GenerateJsonSchema):
    """Component names as springdoc writes them (`Result[list[User]]` -> `ResultListUser`,
    `Result[None]` -> `ResultVoid`), and no titles on properties."""

    def normalize_name(self, name: str) -> str:
        parts = re.split(r"[^A-Za-z0-9]+", name.replace("NoneType", "Void"))
        return "".join(part[:1].upper() + part[1:] for part in parts)

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        out = super().model_schema(schema)
        out.pop("title", None)
        return out


class _Schemas:
    """Collects every model of the document, then generates them in one pass, so a model
    used by several endpoints is one component."""

    def __init__(self) -> None:
        self._inputs: list[tuple[str, JsonSchemaMode, TypeAdapter[Any]]] = []
        self._keys: set[tuple[str, JsonSchemaMode]] = set()
        self.refs: dict[tuple[str, JsonSchemaMode], JsonSchemaValue] = {}
        self.components: dict[str, JsonSchemaValue] = {}

    def want(self, tp: Any, mode: JsonSchemaMode) -> tuple[str, JsonSchemaMode]:
        key = (repr(tp), mode)
        if key not in self._keys:
            self._keys.add(key)
            self._inputs.append((key[0], mode, adapter_for(tp)))
        return key

    def generate(self) -> None:
        refs, defs = TypeAdapter.json_schemas(
            self._inputs, ref_template=REF, schema_generator=_SpringNames
        )
        self.refs = dict(refs)
        self.components = dict(defs.get("$defs", {}))


def _parameters(ep: Endpoint) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for kind, where in _PARAMETER_KINDS:
        model: type[BaseModel] | None = ep.models.get(kind)
        if model is None:
            continue
        schema = model.model_json_schema(schema_generator=_SpringNames, ref_template=REF)
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            prop = dict(prop)
            param: dict[str, Any] = {"name": name, "in": where}
            if "description" in prop:
                param["description"] = prop.pop("description")
            prop.pop("default", None)
            param["required"] = where == "path" or name in required
            param["schema"] = _without_null(prop)
            out.append(param)
    return out


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """`int | None = None` is an optional parameter: the parameter is absent, never null."""
    options = prop.get("anyOf")
    if options is not None:
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == 1:
            rest = {k: v for k, v in prop.items() if k != "anyOf"}
            return {**kept[0], **rest}
    return prop


def _json(schema: JsonSchemaValue) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _raw_success(media_type: str) -> dict[str, Any]:
    """An answer without the envelope: the document itself, a page, a file."""
    schema = {"type": "object"} if media_type == "application/json" else {"type": "string"}
    return {
        "description": "the document or file itself (no envelope)",
        "content": {media_type: {"schema": schema}},
    }


def _operation(ep: Endpoint, schemas: _Schemas, keys: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": ep.summary,
        "tags": [ep.tag],
        "operationId": ep.operation_id,
    }
    if ep.description:
        op["description"] = ep.description
    params = _parameters(ep)
    if params:
        op["parameters"] = params
    if "body" in keys:
        op["requestBody"] = {"required": True, **_json(schemas.refs[keys["body"]])}
    elif "form" in keys:
        op["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": schemas.refs[keys["form"]]}},
        }
    if ep.raw is not None:
        success = _raw_success(ep.raw)
    else:
        success = {"description": "success Result", **_json(schemas.refs[keys["response"]])}
    op["responses"] = {
        "200": success,
        "default": {
            "description": "a refusal: code names it, data is null",
            **_json(schemas.refs[keys["error"]]),
        },
    }
    op["security"] = [] if ep.public else [{"bearerAuth": []}]
    return op


def build_openapi(registry: ApiRegistry) -> dict[str, Any]:
    schemas = _Schemas()
    error = schemas.want(Result[None], "serialization")
    wanted: list[tuple[Endpoint, dict[str, Any]]] = []
    for ep in registry.endpoints:
        keys: dict[str, Any] = {"error": error}
        if "body" in ep.models:
            keys["body"] = schemas.want(ep.models["body"], "validation")
        if ep.form is not None:
            keys["form"] = schemas.want(ep.form, "validation")
        if ep.raw is None:
            keys["response"] = schemas.want(_ENVELOPE[ep.response], "serialization")
        wanted.append((ep, keys))
    schemas.generate()
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for ep, keys in wanted:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep, schemas, keys)
        tags[ep.tag] = None
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "stompim REST API",
            "version": __version__,
            "description": DESCRIPTION,
        },
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
