"""Swagger UI of a whole node in headless Chromium, offline.

The browser may resolve no host but 127.0.0.1 (so a page that reached for a CDN would
break), and every resource the page loaded is checked to come from the node itself.
The page must list every REST route the node has, and its "Authorize" dialog must make
"Try it out" work against the live node: `GET /api/user/info` is 401 before the JWT is
entered and 200 (with the right user) after.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import _chromium
from ._chromium import Chromium
from ._fullnode import FullNode
from ._loop import LoopThread

pytestmark = [pytest.mark.slow]

OFFLINE_FLAGS = (
    *_chromium.CHROMIUM_FLAGS,
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
PASSWORD = "swagger-passw0rd"


@pytest.fixture
def node(loop_thread: LoopThread, tmp_path: Path) -> Iterator[FullNode]:
    full = FullNode(loop_thread, tmp_path / "node.db")
    full.start()
    try:
        yield full
    finally:
        full.stop()


@pytest.fixture
def browser(
    chromium_binary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Chromium]:
    monkeypatch.setattr(_chromium, "CHROMIUM_FLAGS", OFFLINE_FLAGS)
    profile = tmp_path / "profile"
    profile.mkdir()
    chromium = Chromium(chromium_binary, profile)
    try:
        yield chromium
    finally:
        chromium.close()


def wait_for(browser: Chromium, expression: str, timeout: float = 45.0) -> Any:
    """Poll a JavaScript expression until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = browser.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression!r}: {browser.log_tail()}")
        time.sleep(0.1)


def node_routes(loop_thread: LoopThread) -> set[tuple[str, str]]:
    """(METHOD, path template) of every route a node's HTTP app registers."""

    async def build() -> set[tuple[str, str]]:
        from stompim.config import Config
        from stompim.http import create_http_app
        from stompim.im.publisher import NullPublisher
        from stompim.im.services import build_services
        from stompim.store import open_database, open_kv

        db = await open_database("sqlite:///:memory:")
        kv = await open_kv("")
        try:
            app = create_http_app(build_services(Config(), db, kv, NullPublisher()))
            return {
                (route.method, route.resource.canonical)
                for route in app.router.routes()
                if route.resource is not None and route.method not in ("HEAD", "OPTIONS")
            }
        finally:
            await kv.close()
            await db.close()

    return loop_thread.run(build(), timeout=30)


LISTED = """JSON.stringify([...document.querySelectorAll('.opblock')].map(b => [
  b.querySelector('.opblock-summary-method').textContent.trim(),
  b.querySelector('.opblock-summary-path').getAttribute('data-path')]))"""

RESOURCES = "JSON.stringify(performance.getEntriesByType('resource').map(e => e.name))"


def test_swagger_ui_lists_every_route_offline(
    node: FullNode, browser: Chromium, loop_thread: LoopThread
) -> None:
    origin = f"http://127.0.0.1:{node.ports.http}"
    for path in ("/doc.html", "/swagger-ui/index.html"):
        with urllib.request.urlopen(origin + path, timeout=10) as page:
            assert b"swagger-ui-bundle.js" in page.read()

    browser.open(f"{origin}/swagger-ui.html")
    wait_for(browser, "document.querySelectorAll('.opblock').length > 0")
    listed = {(m, p) for m, p in json.loads(browser.evaluate(LISTED))}

    routes = node_routes(loop_thread)
    assert listed == routes, (
        f"not shown: {sorted(routes - listed)}; shown but not routed: {sorted(listed - routes)}"
    )
    resources = json.loads(browser.evaluate(RESOURCES))
    assert any(url.endswith("/swagger-ui/swagger-ui-bundle.js") for url in resources)
    assert all(url.startswith(origin + "/") for url in resources), resources
    spec = browser.evaluate("window.ui.specSelectors.url()")
    assert spec == "/api/docs" or spec == "/v3/api-docs"


AUTHORIZE_WITH = """(() => {
  const input = document.querySelector('.auth-container input');
  if (!input) return false;
  const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  set.call(input, %s);
  input.dispatchEvent(new Event('input', {bubbles: true}));
  document.querySelector('.auth-container .auth-btn-wrapper .authorize').click();
  return true;
})()"""

OPEN_USER_INFO = """(() => {
  const block = [...document.querySelectorAll('.opblock-get')].find(b =>
    b.querySelector('.opblock-summary-path').getAttribute('data-path') === '/api/user/info');
  if (!block) return false;
  if (!block.classList.contains('is-open')) block.querySelector('.opblock-summary-control').click();
  return true;
})()"""

OPEN_BLOCK = "[...document.querySelectorAll('.opblock-get.is-open')]" \
    ".find(b => b.querySelector('.opblock-summary-path').getAttribute('data-path') " \
    "=== '/api/user/info')"

CLICK = "(() => { const e = %s; if (!e) return false; e.click(); return true; })()"

STATUS = f"""(() => {{
  const cell = {OPEN_BLOCK}
    ?.querySelector('.live-responses-table tr.response .response-col_status');
  return cell ? cell.textContent.trim() : null;
}})()"""

BODY = f"""(() => {{
  const body = {OPEN_BLOCK}?.querySelector('.live-responses-table .microlight');
  return body ? body.textContent : null;
}})()"""


def execute_user_info(browser: Chromium) -> tuple[str, dict[str, Any]]:
    """Press Execute on the open GET /api/user/info; (status cell, response body)."""
    browser.evaluate(CLICK % f"{OPEN_BLOCK}?.querySelector('.btn-clear')")
    wait_for(browser, f"!{OPEN_BLOCK}?.querySelector('.live-responses-table')")
    assert browser.evaluate(CLICK % f"{OPEN_BLOCK}?.querySelector('.execute')")
    status = wait_for(browser, STATUS)
    return status, json.loads(wait_for(browser, BODY))


def test_swagger_ui_authorize_then_try_it_out(node: FullNode, browser: Chromium) -> None:
    status, created = node.rest(
        "POST", "/api/user/register", {"username": "swagger", "password": PASSWORD}
    )
    assert status == 200, created
    status, login = node.rest(
        "POST", "/api/user/login", {"username": "swagger", "password": PASSWORD}
    )
    token = login["data"]["token"]

    browser.open(f"http://127.0.0.1:{node.ports.http}/doc.html")
    wait_for(browser, "document.querySelectorAll('.opblock').length > 0")
    assert wait_for(browser, OPEN_USER_INFO)
    wait_for(browser, CLICK % f"{OPEN_BLOCK}?.querySelector('.try-out__btn')")

    status, body = execute_user_info(browser)
    assert (status, body["code"]) == ("401", 9002), body  # no token yet

    assert browser.evaluate(CLICK % "document.querySelector('.auth-wrapper .authorize')")
    assert wait_for(browser, AUTHORIZE_WITH % json.dumps(token))
    wait_for(browser, "!!document.querySelector('.auth-container .btn-done')")
    assert browser.evaluate(CLICK % "document.querySelector('.auth-container .btn-done')")

    status, body = execute_user_info(browser)
    assert status == "200", (status, body)
    assert body["code"] == 200 and body["data"]["username"] == "swagger"
