"""The built-in web client: `/` (its page), `/web/<file>` (its modules, styles, icon) and
`/api/client-config` (where its STOMP WebSocket is, and the limits it shows).

The files live in `stompim/http/webclient/` and ship in the wheel (package-data); they are
plain ES modules with no build step and nothing loaded from elsewhere, so the client works
on a machine with no internet access. Only the files found there at start-up are served
(no path from a request ever reaches the file system), with `Cache-Control: no-cache` so an
upgraded node is picked up at once (aiohttp still answers 304 to a revalidation). The page
carries a Content-Security-Policy that allows no inline script or style and no other origin
but the node's own WebSockets: defence in depth behind the client never rendering server
text as HTML.

Where the client connects (`wsUrl` in /api/client-config): `http.client_ws_url` when set (a
node behind a proxy or TLS terminator names its public URL there); otherwise empty, and the
client tries `ws(s)://<page host><stompPath>` on the page's own port first (STOMP on the REST
port, the first of `http.stomp_paths`; skipped when that is empty), then
`ws(s)://<page hostname>:<wsPort><wsPath>` (the STOMP WebSocket listener, `server.ws_port`),
and keeps the first that answers. `wsPort` is the port actually bound (`WS_PORT`, set by
the node before the app starts; the configured one otherwise).

`http.web_client = false` leaves all three unregistered (`/` then answers 404 as before).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from aiohttp import web
from pydantic import Field

from stompim.http.api import ApiRoutes
from stompim.http.fields import Text
from stompim.http.keys import SERVICES, WS_PORT
from stompim.http.models.base import Path as PathParams
from stompim.http.models.base import View

WEB_DIR = Path(__file__).resolve().parent.parent / "webclient"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
PAGE_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: http: https:",  # avatars are URLs anywhere
        "connect-src 'self' ws: wss:",  # the STOMP listener is another port
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

routes = ApiRoutes("web client")


def _node_version() -> str:
    try:
        return version("stompim")
    except PackageNotFoundError:
        return "unknown"


class ClientConfig(View):
    ws_url: str = Field(description="http.client_ws_url; empty: the page's host, see wsPort")
    ws_port: int = Field(description="port of the STOMP WebSocket listener (as bound)")
    ws_path: str = Field(description="path of the STOMP WebSocket (server.ws_path)")
    stomp_path: str = Field(description=(
        "path of STOMP (WebSocket and SockJS) on this, the REST, port: the first of "
        "http.stomp_paths; empty when none is served"))
    max_message_length: int = Field(description="im.max_message_length")
    recall_window_seconds: int = Field(description="im.recall_window_seconds")
    version: str = Field(description="the node's stompim version")


@routes.get(
    "/api/client-config",
    summary="Where a browser client finds this node's STOMP WebSocket, and the limits it shows",
    public=True,
    response=ClientConfig,
)
async def client_config(request: web.Request) -> ClientConfig:
    config = request.app[SERVICES].config
    bound = request.app.get(WS_PORT)
    return ClientConfig(
        ws_url=config.http.client_ws_url,
        ws_port=bound() if bound is not None else config.server.ws_port,
        ws_path=config.server.ws_path,
        stomp_path=config.http.stomp_paths[0] if config.http.stomp_paths else "",
        max_message_length=config.im.max_message_length,
        recall_window_seconds=config.im.recall_window_seconds,
        version=_node_version(),
    )


def _shipped_files() -> dict[str, Path]:
    return {
        path.name: path
        for path in sorted(WEB_DIR.iterdir())
        if path.is_file() and path.suffix in CONTENT_TYPES
    }


FILES = _shipped_files()
"""The only files served: name -> path, listed once at import."""


def _file_response(path: Path, **headers: str) -> web.FileResponse:
    return web.FileResponse(
        path,
        headers={
            "Content-Type": CONTENT_TYPES[path.suffix],
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            **headers,
        },
    )


@routes.get("/", summary="The built-in web client (an HTML page, no envelope)", public=True,
            raw="text/html")
async def page(request: web.Request) -> web.FileResponse:
    headers = {"Content-Security-Policy": PAGE_POLICY, "Referrer-Policy": "no-referrer"}
    return _file_response(FILES["index.html"], **headers)


class AssetName(PathParams):
    name: Text = Field(
        description="stomp.mjs is the STOMP client other pages may use",
        json_schema_extra={"enum": [name for name in sorted(FILES) if name != "index.html"]},
    )


@routes.get(
    "/web/{name}",
    summary="A file of the web client: ES module, style sheet or icon (no envelope)",
    public=True,
    raw="*/*",
)
async def asset(request: web.Request, path: AssetName) -> web.FileResponse:
    file = FILES.get(path.name)
    if file is None:
        raise web.HTTPNotFound()
    return _file_response(file)


def register_routes(app: web.Application) -> None:
    """All three, unless http.web_client is off."""
    if app[SERVICES].config.http.web_client:
        routes.register(app)
