"""The OpenAPI document is generated from the declared models: it matches the routes both
ways, every reference resolves, and it documents both paging shapes (issue 12)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from conftest import Api

from stompim.http import ApiRoutes
from stompim.http.models.base import Body, Path

OFFSET_PAGED = {
    "/api/notification", "/api/friend/request/received", "/api/friend/request/sent",
    "/api/friend/blacklist", "/api/group/{groupId}/members", "/api/user/search",
}
PAGING_PARAMS = {"current", "pageNum", "page", "size", "pageSize"}


async def _document(client: Api, path: str = "/v3/api-docs") -> tuple[bytes, dict[str, Any]]:
    async with client.client.get(path) as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        return await resp.read(), await resp.json()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_served_at_both_addresses(client: Api) -> None:
    v3, doc = await _document(client)
    legacy, _ = await _document(client, "/api/docs")
    assert v3 == legacy and doc["openapi"] == "3.1.0"


async def test_every_route_documented_and_every_documented_path_routed(client: Api) -> None:
    _, doc = await _document(client)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routed = {
        (r.method, r.resource.canonical)
        for r in client.client.app.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }
    assert documented == routed
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    for path, ops in doc["paths"].items():
        placeholders = set(re.findall(r"\{(\w+)\}", path))
        for op in ops.values():
            in_path = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert in_path == placeholders, path
            assert op["responses"]["default"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ResultVoid"
            }


async def test_every_reference_resolves_and_every_component_is_used(client: Api) -> None:
    _, doc = await _document(client)
    components = doc["components"]["schemas"]
    refs = _refs(doc)
    for ref in refs:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in components
    assert {r.rsplit("/", 1)[1] for r in refs} == set(components)


async def test_both_paging_shapes_are_documented(client: Api) -> None:
    _, doc = await _document(client)
    components = doc["components"]["schemas"]
    for path in OFFSET_PAGED:
        op = doc["paths"][path]["get"]
        assert {p["name"] for p in op["parameters"]} >= PAGING_PARAMS, path
        result = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = components[result.rsplit("/", 1)[1]]["properties"]["data"]["$ref"]
        shape = components[page.rsplit("/", 1)[1]]
        assert set(shape["properties"]) == {"records", "total", "size", "current", "pages"}
    cursor = components["ConversationPage"]["properties"]
    assert set(cursor) == {"list", "nextCursor", "hasMore"}
    assert "offset-paged" in doc["info"]["description"]
    assert "cursor-paged" in doc["info"]["description"]


async def test_integers_are_documented_as_64_bit_ranges(client: Api) -> None:
    _, doc = await _document(client)
    friend_request = doc["components"]["schemas"]["SendFriendRequest"]
    assert friend_request["properties"]["toUserId"] == {
        "type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1,
    }
    params = doc["paths"]["/api/user/info/{userId}"]["get"]["parameters"]
    assert params == [{"name": "userId", "in": "path", "required": True, "schema": {
        "type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}}]


class _IdPath(Path):
    group_id: int


def test_a_handler_must_declare_its_path_and_inputs() -> None:
    routes = ApiRoutes("demo")

    async def missing_path(request: web.Request) -> object:
        return None

    with pytest.raises(TypeError, match="path parameters"):
        routes.get("/api/demo/{groupId}", summary="x")(missing_path)

    async def wrong_name(request: web.Request, path: _IdPath) -> object:
        return None

    with pytest.raises(TypeError, match="path parameters"):
        routes.get("/api/demo/{userId}", summary="x")(wrong_name)

    async def unknown_input(request: web.Request, payload: Body) -> object:
        return None

    with pytest.raises(TypeError, match="payload"):
        routes.post("/api/demo", summary="x")(unknown_input)

    async def body_as_path(request: web.Request, body: _IdPath) -> object:
        return None

    with pytest.raises(TypeError, match="body"):
        routes.post("/api/demo", summary="x")(body_as_path)
