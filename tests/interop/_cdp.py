"""Headless Chromium driven over the DevTools protocol at browser level: isolated browser
contexts (one per user, as two separate browsers would be), pages in them, and the few
page operations a UI test needs (evaluate, click, fill, wait, screenshot, closing the
page's WebSockets, a script run before each document's own).

The process is started and ended by `_chromium.Chromium` (same flags, same clean-up of
its process group); this module adds one WebSocket to the browser target and talks to
every page through it in flat session mode (`Target.attachToTarget`, `flatten: true`).
Page exceptions and console errors are collected per page so a test can assert there
were none.

Call order: `Browser(binary, profile_dir)`, `start()`, `new_page(url)` any number of
times, page calls, then `close()` (safe after a failure).
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from pathlib import Path
from typing import Any

import websocket

from ._chromium import Chromium

__all__ = ["Browser", "Page"]


class Browser:
    def __init__(self, binary: str, profile_dir: Path) -> None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        self._profile = profile_dir
        self._process = Chromium(binary, profile_dir)
        self._ws: websocket.WebSocket | None = None
        self._ids = itertools.count(1)
        self._events: dict[str, list[dict[str, Any]]] = {}

    def start(self) -> None:
        (self._profile / "DevToolsActivePort").unlink(missing_ok=True)  # a previous run's
        try:
            self._process.open("about:blank")
            lines = (self._profile / "DevToolsActivePort").read_text().splitlines()
            url = f"ws://127.0.0.1:{int(lines[0])}{lines[1]}"
            self._ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        except BaseException:
            self.close()
            raise

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """Send one command and wait (bounded) for its answer; events met meanwhile are kept."""
        assert self._ws is not None, "Browser.start() first"
        call_id = next(self._ids)
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            self._ws.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                reply = json.loads(self._ws.recv())
            except websocket.WebSocketTimeoutException:
                raise AssertionError(f"no DevTools answer to {method} in {timeout}s") from None
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise AssertionError(f"{method} failed: {reply['error']}")
                return dict(reply.get("result", {}))
            if "method" in reply:
                self._events.setdefault(reply.get("sessionId", ""), []).append(reply)

    def events(self, session: str) -> list[dict[str, Any]]:
        return self._events.get(session, [])

    def new_page(
        self, url: str, width: int = 1280, height: int = 800, init_script: str = ""
    ) -> Page:
        """A page in a fresh browser context (own cookies and storage), attached and enabled;
        `init_script` runs in every document it loads, before the page's own scripts."""
        context = self.call("Target.createBrowserContext")["browserContextId"]
        target = self.call(
            "Target.createTarget",
            {"url": "about:blank", "browserContextId": context, "width": width, "height": height},
        )["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session)
        for method in ("Page.enable", "Runtime.enable", "Network.enable"):
            self.call(method, session=session)
        # Every page behaves as the focused window (headless has no real focus to give).
        self.call("Emulation.setFocusEmulationEnabled", {"enabled": True}, session)
        page.viewport(width, height)
        if init_script:
            page.call("Page.addScriptToEvaluateOnNewDocument", {"source": init_script})
        page.navigate(url)
        return page

    def log_tail(self) -> str:
        return self._process.log_tail()

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close()
            finally:
                self._ws = None
        self._process.close()


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, self.session)

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def reload(self) -> None:
        self.call("Page.reload", {"ignoreCache": False})

    def viewport(self, width: int, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def evaluate(self, expression: str) -> Any:
        """The value of `expression` (awaited when it is a promise); page errors raise."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise AssertionError(f"page error in {expression[:80]!r}: {text}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 10.0, what: str = "") -> Any:
        """Poll until `expression` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what or expression}; "
                    f"page errors: {self.errors()}"
                )
            time.sleep(0.05)

    def wait_for(self, selector: str, timeout: float = 10.0) -> None:
        self.wait(f"!!document.querySelector({json.dumps(selector)})", timeout, selector)

    def click(self, selector: str) -> None:
        self.wait_for(selector)
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def fill(self, selector: str, value: str) -> None:
        """Set a form control's value as typing would (an `input` event follows)."""
        self.wait_for(selector)
        self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            f" el.value = {json.dumps(value)};"
            " el.dispatchEvent(new Event('input', {bubbles: true})); })()"
        )

    def texts(self, selector: str) -> list[str]:
        return list(
            self.evaluate(
                f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent)"
            )
        )

    def close_websockets(self) -> int:
        """Close every WebSocket of the page from inside it, as a dropped network would end
        them for the page (DevTools' offline mode leaves open sockets alone, and
        Network.setBlockedURLs does not apply to WebSockets). Found with
        Runtime.queryObjects, so the page needs no test hook. Returns how many were open."""
        proto = self.call(
            "Runtime.evaluate", {"expression": "WebSocket.prototype", "returnByValue": False}
        )["result"]["objectId"]
        sockets = self.call("Runtime.queryObjects", {"prototypeObjectId": proto})["objects"]
        result = self.call(
            "Runtime.callFunctionOn",
            {
                "objectId": sockets["objectId"],
                "functionDeclaration": (
                    "function () { const open = this.filter(ws => ws.readyState === 1);"
                    " open.forEach(ws => ws.close(4000, 'test: network drop'));"
                    " return open.length; }"
                ),
                "returnByValue": True,
            },
        )
        for handle in (proto, sockets["objectId"]):
            self.call("Runtime.releaseObject", {"objectId": handle})
        return int(result["result"]["value"])

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        path.write_bytes(data)
        return data

    def errors(self) -> list[str]:
        """Uncaught exceptions and console errors of this page so far."""
        out = []
        for event in self.browser.events(self.session):
            params = event["params"]
            if event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                out.append(details.get("exception", {}).get("description") or details["text"])
            elif event["method"] == "Runtime.consoleAPICalled" and params["type"] == "error":
                args = params["args"]
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in args))
        return out
