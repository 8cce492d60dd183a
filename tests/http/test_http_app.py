"""The app itself: /health, /api/docs (OpenAPI), and adding a route module."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from conftest import Api, RecordingPublisher, make_config

from stompim.http import CLAIMS, ApiRoutes, create_http_app, ok
from stompim.http import routes as route_modules
from stompim.http.models.base import View
from stompim.im.services import build_services

USER_ENDPOINTS = {
    ("post", "/api/user/register"),
    ("post", "/api/user/login"),
    ("post", "/api/user/logout"),
    ("get", "/api/user/info"),
    ("get", "/api/user/info/{userId}"),
    ("put", "/api/user/info"),
    ("get", "/api/user/search"),
    ("put", "/api/user/password"),
    ("post", "/api/user/sms-code"),
    ("get", "/api/user/online"),
    ("get", "/health"),
    ("get", "/api/docs"),
    ("get", "/v3/api-docs"),
}
PUBLIC = {
    ("post", "/api/user/register"),
    ("post", "/api/user/login"),
    ("post", "/api/user/sms-code"),
    ("get", "/health"),
    ("get", "/api/docs"),
    ("get", "/v3/api-docs"),
}


def resolve(doc: dict, schema: dict) -> dict:
    """Follow a `$ref` of the document's components (the models are components now)."""
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


async def test_health(client: Api) -> None:
    reply = await client.call("GET", "/health")
    assert reply.status == 200 and reply.data == {"status": "ok"}


async def test_openapi_document_lists_every_route(client: Api) -> None:
    async with client.client.get("/api/docs") as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    listed = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert listed >= USER_ENDPOINTS  # other areas add theirs
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and "200" in op["responses"]
            if (method, path) in USER_ENDPOINTS:
                assert (op["security"] == []) == ((method, path) in PUBLIC), (method, path)
    login = doc["paths"]["/api/user/login"]["post"]
    body = resolve(doc, login["requestBody"]["content"]["application/json"]["schema"])
    assert "password" in body["properties"]
    result = resolve(doc, login["responses"]["200"]["content"]["application/json"]["schema"])
    assert result["properties"]["data"] == {"$ref": "#/components/schemas/LoginResult"}
    assert "createdAt" in doc["components"]["schemas"]["User"]["properties"]
    params = doc["paths"]["/api/user/info/{userId}"]["get"]["parameters"]
    assert params[0]["name"] == "userId" and params[0]["in"] == "path"
    # Every route the router knows is documented (nothing added without docs).
    app_routes = {
        (r.method.lower(), r.resource.canonical)
        for r in client.client.app.router.routes()
        if r.method != "HEAD"
    }
    assert app_routes == listed


class Echo(View):
    user_id: int


async def test_a_new_route_module_plugs_in(db, memory_kv, monkeypatch) -> None:
    area = ApiRoutes("demo")

    @area.get("/api/demo/me", summary="Who am I", response=Echo)
    async def me(request: web.Request) -> object:
        return {"userId": request[CLAIMS].user_id}

    @area.get("/api/demo/open", summary="Public", public=True)
    async def open_(request: web.Request) -> web.Response:
        return ok("open")

    monkeypatch.setattr(
        route_modules, "ROUTE_MODULES", [*route_modules.ROUTE_MODULES, area.register]
    )
    from stompim.http import app as app_module

    monkeypatch.setattr(app_module, "ROUTE_MODULES", route_modules.ROUTE_MODULES)
    services = build_services(make_config(), db, memory_kv, RecordingPublisher())
    client = TestClient(TestServer(create_http_app(services), host="127.0.0.1", port=0))
    await client.start_server()
    try:
        api = Api(client, services, None, None)  # type: ignore[arg-type]
        user, token = await api.user("zed")
        assert (await api.call("GET", "/api/demo/me", token=token)).data == {"userId": user["id"]}
        assert (await api.call("GET", "/api/demo/me")).status == 401
        assert (await api.call("GET", "/api/demo/open")).data == "open"
        async with client.get("/api/docs") as resp:
            doc = await resp.json()
        assert "/api/demo/me" in doc["paths"] and "Echo" in doc["components"]["schemas"]
    finally:
        await client.close()
