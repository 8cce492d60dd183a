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
client tries `ws(s)://<page host>/ws` on the page's own port first, then
`ws(s)://<page hostname>:<wsPort><wsPath>` (the STOMP WebSocket listener, `server.ws_port`),
and keeps the first that answers. `wsPort` is the port actually bound (`WS_PORT`, set by
the node before the app starts; the configured one otherwise).

`http.web_client = false` leaves all three unregistered (`/` then answers 404 as before).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from aiohttp import web

from stompim.http.api import ApiRoutes, Param
from stompim.http.keys import SERVICES, WS_PORT
from stompim.http.result import ok
from stompim.http.schema import INT, STR, obj, s

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


@routes.get(
    "/api/client-config",
    summary="Where a browser client finds this node's STOMP WebSocket, and the limits it shows",
    public=True,
    response=obj(
        {
            "wsUrl": s(STR, description="http.client_ws_url; empty: same host, see wsPort"),
            "wsPort": s(INT, description="port of the STOMP WebSocket listener"),
            "wsPath": STR,
            "maxMessageLength": INT,
            "recallWindowSeconds": INT,
            "version": STR,
        }
    ),
)
async def client_config(request: web.Request) -> web.Response:
    config = request.app[SERVICES].config
    bound = request.app.get(WS_PORT)
    return ok(
        {
            "wsUrl": config.http.client_ws_url,
            "wsPort": bound() if bound is not None else config.server.ws_port,
            "wsPath": config.server.ws_path,
            "maxMessageLength": config.im.max_message_length,
            "recallWindowSeconds": config.im.recall_window_seconds,
            "version": _node_version(),
        }
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


@routes.get("/", summary="The built-in web client (an HTML page, no envelope)", public=True)
async def page(request: web.Request) -> web.FileResponse:
    headers = {"Content-Security-Policy": PAGE_POLICY, "Referrer-Policy": "no-referrer"}
    return _file_response(FILES["index.html"], **headers)


@routes.get(
    "/web/{name}",
    summary="A file of the web client: ES module, style sheet or icon (no envelope)",
    public=True,
    path_params=(Param("name", STR, True, "e.g. stomp.mjs, the STOMP client other pages may use"),),
)
async def asset(request: web.Request) -> web.FileResponse:
    path = FILES.get(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    return _file_response(path)


def register_routes(app: web.Application) -> None:
    """All three, unless http.web_client is off."""
    if app[SERVICES].config.http.web_client:
        routes.register(app)
