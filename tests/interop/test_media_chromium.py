"""Headless Chromium renders an `<img>` whose src is a signed media URL (no token, no
cookie: the URL is the proof), from the node's disk and from the S3 store behind a
redirect; the same URL with a forged signature does not render."""

from __future__ import annotations

import http.server
import io
import json
import secrets
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ._chromium import Chromium
from ._fullnode import FullNode
from ._loop import LoopThread

pytestmark = pytest.mark.slow

PAGE = """<!doctype html><meta charset="utf-8"><title>media</title>
<div id="status">pending</div><div id="detail"></div>
<img id="good" src="{good}"><img id="forged" src="{forged}">
<script>
const seen = {{}};
function settle(name, ok) {{
  const img = document.getElementById(name);
  seen[name] = {{ok, w: img.naturalWidth, h: img.naturalHeight}};
  if (Object.keys(seen).length === 2) {{
    document.getElementById("detail").textContent = JSON.stringify(seen);
    document.getElementById("status").textContent = "done";
  }}
}}
for (const name of ["good", "forged"]) {{
  const img = document.getElementById(name);
  if (img.complete) settle(name, img.naturalWidth > 0);
  img.onload = () => settle(name, true);
  img.onerror = () => settle(name, false);
}}
</script>"""


class OnePage:
    """Serves one HTML page at http://127.0.0.1:<port>/ (an http origin, as a front end has)."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    def close(self) -> None:
        self._httpd.shutdown()
        self._thread.join(timeout=5)
        self._httpd.server_close()


def _upload(node: FullNode, token: str, content: bytes) -> dict[str, Any]:
    import urllib.request

    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="dot.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{node.ports.http}/api/file/upload",
        data=body,
        method="POST",
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Bearer {token}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        envelope = json.load(response)
    assert envelope["code"] == 200, envelope
    return envelope["data"]  # type: ignore[no-any-return]


def test_signed_image_url_renders_in_chromium(
    loop_thread: LoopThread, chromium_binary: str, tmp_path: Path, media_section: dict[str, Any]
) -> None:
    node = FullNode(loop_thread, tmp_path / "media.db", media=media_section)
    node.start()
    profile = tmp_path / "profile"
    profile.mkdir()
    browser = Chromium(chromium_binary, profile)
    page: OnePage | None = None
    try:
        account = {"username": "painter", "password": "passw0rd-ok"}
        assert node.rest("POST", "/api/user/register", account)[0] == 200
        token = node.rest("POST", "/api/user/login", account)[1]["data"]["token"]
        picture = io.BytesIO()
        Image.new("RGB", (123, 45), (secrets.randbelow(256), 100, 200)).save(picture, "PNG")
        url = _upload(node, token, picture.getvalue())["url"]
        forged = url.replace("sig=", "sig=X")
        page = OnePage(PAGE.format(good=url, forged=forged))
        browser.open(page.url)
        status, detail = browser.read_until_done(timeout=20)
    finally:
        browser.close()
        if page is not None:
            page.close()
        node.stop()
    assert status == "done", detail
    assert detail["good"] == {"ok": True, "w": 123, "h": 45}, detail
    assert detail["forged"]["ok"] is False and detail["forged"]["w"] == 0, detail
