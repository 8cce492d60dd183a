"""Swagger UI, served by the node itself, offline: /swagger-ui.html and /doc.html.

The paths are where Spring teams look (springdoc's /swagger-ui.html and
/swagger-ui/index.html, Knife4j's /doc.html). The assets come from the `swagger-ui-py`
package, which bundles Swagger UI 5 (the only line that renders OpenAPI 3.1, the
version of our document); only its static files are used, never its framework glue,
and no file is fetched from anywhere else (the validator badge is off).

The page loads the OpenAPI document from /v3/api-docs when the app routes it, else
from /api/docs. "Authorize" takes the JWT of `POST /api/user/login` for the document's
`bearerAuth` scheme; "Try it out" then calls this node with it, and the token is kept
in the browser's local storage across reloads (`persistAuthorization`).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from aiohttp import web
from pydantic import Field

from stompim.http.api import ApiRoutes
from stompim.http.fields import Text
from stompim.http.models.base import Path as PathParams

__all__ = ["ASSETS", "PAGE_PATHS", "register_routes", "swagger_ui_dir"]

routes = ApiRoutes("docs")

PAGE_PATHS = ("/swagger-ui.html", "/doc.html", "/swagger-ui/index.html")
ASSET_PREFIX = "/swagger-ui/"
SPEC_PATHS = ("/v3/api-docs", "/api/docs")
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
    "oauth2-redirect.html": "text/html",
}
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stompim REST API</title>
<link rel="stylesheet" href="/swagger-ui/swagger-ui.css">
<link rel="icon" type="image/png" href="/swagger-ui/favicon-32x32.png">
<style>body {{ margin: 0; }}</style>
</head>
<body>
<div id="swagger-ui"></div>
<script src="/swagger-ui/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: {spec_url},
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: true,
  displayRequestDuration: true,
  filter: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
}});
</script>
</body>
</html>
"""


def swagger_ui_dir() -> Path:
    """The static folder of the installed swagger-ui-py (found without importing it)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: pip install swagger-ui-py")
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    missing = [name for name in ASSETS if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"swagger-ui-py at {folder} lacks {missing}")
    return folder


def spec_url(app: web.Application) -> str:
    """/v3/api-docs when the app routes it, else /api/docs."""
    routed = {resource.canonical for resource in app.router.resources()}
    return next((path for path in SPEC_PATHS if path in routed), SPEC_PATHS[-1])


@routes.get("/swagger-ui.html", summary="Swagger UI (HTML page, no envelope)", public=True,
            raw="text/html")
async def swagger_ui(request: web.Request) -> web.Response:
    page = _PAGE.format(spec_url=json.dumps(spec_url(request.app)))
    return web.Response(text=page, content_type="text/html",
                        headers={"Cache-Control": "no-cache"})


@routes.get("/doc.html", summary="Swagger UI at Knife4j's path (HTML page)", public=True,
            raw="text/html")
async def doc_html(request: web.Request) -> web.StreamResponse:
    return await swagger_ui(request)


class AssetPath(PathParams):
    asset: Text = Field(json_schema_extra={"enum": ["index.html", *ASSETS]})


@routes.get(
    "/swagger-ui/{asset}",
    summary="Swagger UI's files (index.html is the page; no envelope)",
    public=True,
    raw="*/*",
)
async def swagger_asset(request: web.Request, path: AssetPath) -> web.StreamResponse:
    name = path.asset
    if name == "index.html":
        return await swagger_ui(request)
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.FileResponse(
        request.app[_ASSET_DIR] / name,
        headers={"Content-Type": ASSETS[name], "Cache-Control": "public, max-age=86400"},
    )


_ASSET_DIR = web.AppKey("stompim.swagger_ui_dir", Path)


def register_routes(app: web.Application) -> None:
    app[_ASSET_DIR] = swagger_ui_dir()
    routes.register(app)
