"""Build the OpenAPI 3.1 document from the endpoints recorded in the ApiRegistry.

Every success response is the Result envelope with the endpoint's `response`
schema as `data`; every endpoint also documents the error Result.
"""

from __future__ import annotations

import re
from typing import Any

from stompim.http.api import ApiRegistry, Endpoint, Param
from stompim.http.schema import INT, STR, Schema, obj, s

_PATH_PARAM = re.compile(r"\{(\w+)\}")


def result_schema(data: Schema | None) -> Schema:
    return obj(
        {
            "code": s(INT, description="200 on success, else an error code"),
            "message": STR,
            "data": data if data is not None else {"type": "null"},
            "timestamp": s(INT, description="epoch milliseconds"),
        },
        required=("code", "message", "data", "timestamp"),
    )


def _param(p: Param, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "in": where, "required": p.required, "schema": p.schema}
    if p.description:
        out["description"] = p.description
    return out


def _operation(ep: Endpoint) -> dict[str, Any]:
    declared = {p.name for p in ep.path_params}
    params = [_param(p, "path") for p in ep.path_params]
    params += [
        _param(Param(n, STR, True), "path")
        for n in _PATH_PARAM.findall(ep.path)
        if n not in declared
    ]
    params += [_param(p, "query") for p in ep.query]
    params += [_param(p, "header") for p in ep.headers]
    op: dict[str, Any] = {
        "summary": ep.summary,
        "tags": [ep.tag],
        "operationId": f"{ep.tag}_{ep.handler.__name__}",
        "responses": {
            "200": {
                "description": "success Result",
                "content": {"application/json": {"schema": result_schema(ep.response)}},
            },
            "default": {
                "description": "error Result (code names the error)",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResult"}}
                },
            },
        },
    }
    if params:
        op["parameters"] = params
    if ep.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ep.body}},
        }
    op["security"] = [] if ep.public else [{"bearerAuth": []}]
    return op


def build_openapi(registry: ApiRegistry) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for ep in registry.endpoints:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "stompim REST API",
            "version": "0.1.0",
            "description": "Every response is a Result envelope {code, message, data, timestamp}; "
            "code 200 is success.",
        },
        "paths": paths,
        "components": {
            "schemas": {**registry.components, "ErrorResult": result_schema(None)},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
