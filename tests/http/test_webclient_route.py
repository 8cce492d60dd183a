"""The web client's routes (stompim/http/routes/webclient.py): the page, its files, the
client config, the switch that turns them off, and the files being in the wheel."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import Api, make_config

from stompim.config import Config
from stompim.http import create_http_app
from stompim.http.keys import WS_PORT
from stompim.http.routes.webclient import FILES, WEB_DIR
from stompim.im.publisher import NullPublisher
from stompim.im.services import build_services
from stompim.store import Database, KeyValue

ROOT = Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"""(?:from|import)\s+["']\./([\w.-]+)["']""")
LINKED = re.compile(r"""(?:src|href)="/web/([\w.-]+)"|url\("/web/([\w.-]+)"\)""")


@pytest.fixture
def cfg() -> Config:
    return make_config(
        server={"ws_port": 18081, "ws_path": "/stomp"},
        im={"max_message_length": 1234, "recall_window_seconds": 60},
    )


async def _raw(client: Api, path: str) -> tuple[int, dict[str, str], bytes]:
    async with client.client.get(path) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_the_page_is_public_html_under_a_strict_policy(client: Api) -> None:
    status, headers, body = await _raw(client, "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert headers["Cache-Control"] == "no-cache" and headers["X-Content-Type-Options"] == "nosniff"
    assert b'<script type="module" src="/web/app.mjs">' in body


async def test_every_file_the_client_loads_is_served_with_its_type(client: Api) -> None:
    """Walk the page's links and every module's relative imports: all are served."""
    _, _, page = await _raw(client, "/")
    wanted = {a or b for a, b in LINKED.findall(page.decode())}
    seen: set[str] = set()
    types = {".mjs": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    while wanted - seen:
        name = sorted(wanted - seen)[0]
        seen.add(name)
        status, headers, body = await _raw(client, f"/web/{name}")
        assert status == 200, name
        assert headers["Content-Type"].startswith(types[Path(name).suffix]), name
        text = body.decode()
        wanted |= set(IMPORT.findall(text)) | {a or b for a, b in LINKED.findall(text)}
    assert {"app.mjs", "stomp.mjs", "stomp-frames.mjs", "style.css", "icon.svg"} <= seen
    assert seen | {"index.html"} == set(FILES), "every shipped file is used, none is missing"


@pytest.mark.parametrize(
    "path",
    ["/web/nothing.mjs", "/web/", "/web/..%2F..%2Fconfig.py", "/web/%2e%2e%2fapi.py",
     "/web/index.html%00.mjs", "/web/package.json"],
)
async def test_nothing_else_is_served(client: Api, path: str) -> None:
    reply = await client.call("GET", path)
    assert reply.status == 404 and reply.code == 9004


async def test_client_config_names_the_websocket_and_limits(client: Api) -> None:
    reply = await client.call("GET", "/api/client-config")
    assert reply.status == 200
    assert reply.data["wsUrl"] == ""
    assert reply.data["wsPort"] == 18081 and reply.data["wsPath"] == "/stomp"
    assert reply.data["stompPath"] == "/ws"   # http.stomp_paths[0]: STOMP on this port
    assert reply.data["maxMessageLength"] == 1234 and reply.data["recallWindowSeconds"] == 60
    assert reply.data["version"]


async def _serve_with(cfg: Config, db: Database, kv: KeyValue, ws_port: int | None = None
                      ) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    app = create_http_app(build_services(cfg, db, kv, NullPublisher()))
    if ws_port is not None:
        app[WS_PORT] = lambda: ws_port
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        yield client


async def test_the_bound_port_and_a_public_url_win(db: Database, memory_kv: KeyValue) -> None:
    async for c in _serve_with(make_config(server={"ws_port": 0}), db, memory_kv, ws_port=45678):
        async with c.get("/api/client-config") as resp:
            assert (await resp.json())["data"]["wsPort"] == 45678
    public = make_config(http={"client_ws_url": "wss://im.example.com/ws"})
    async for c in _serve_with(public, db, memory_kv):
        async with c.get("/api/client-config") as resp:
            assert (await resp.json())["data"]["wsUrl"] == "wss://im.example.com/ws"


async def test_switched_off_nothing_is_served(db: Database, memory_kv: KeyValue) -> None:
    async for c in _serve_with(make_config(http={"web_client": False}), db, memory_kv):
        for path in ("/", "/web/app.mjs", "/api/client-config"):
            async with c.get(path) as resp:
                assert resp.status == 404, path
                assert (await resp.json())["code"] == 9004


def test_the_package_build_carries_the_client(tmp_path: Path) -> None:
    """setuptools' build_py (what a wheel is made of), run on a clean copy of the sources
    (no egg-info whose file list would hide a gap), copies every file of the client, as
    [tool.setuptools.package-data] says."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "stompim", source / "stompim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", "import setuptools; setuptools.setup()",
         "-q", "build_py", "-d", str(tmp_path / "build")],
        cwd=source, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    built = {p.name for p in (tmp_path / "build" / "stompim" / "http" / "webclient").iterdir()}
    shipped = {p.name for p in WEB_DIR.iterdir() if p.is_file()}
    assert shipped and shipped <= built, shipped - built
