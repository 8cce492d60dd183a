"""Headless Chromium running a page that uses the STOMP.js UMD bundle.

`PageServer` serves browser/index.html, browser/check.js and the bundle from
js/node_modules over HTTP on 127.0.0.1 (an http:// origin, as a real front end
has).  `Chromium` starts the browser on that page with remote debugging on an
ephemeral port and reads the page's DOM back through the DevTools protocol
(Runtime.evaluate over a WebSocket, with websocket-client).

Call order: `PageServer(js_dir)` -> `start()`; `Chromium(binary, profile_dir)`
-> `open(url)` -> `read_until_done()`; then `Chromium.close()` and
`PageServer.close()` (both safe to call after a failure).
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket

__all__ = ["BROWSER_DIR", "Chromium", "PageServer"]

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
BUNDLE = Path("node_modules/@stomp/stompjs/bundles/stomp.umd.min.js")

EVALUATE_SECONDS = 30.0
"""How long a page may take to answer one Runtime.evaluate (a busy renderer)."""

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # tests may run as root in a container
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


class PageServer:
    def __init__(self, js_dir: Path) -> None:
        files = {
            "/": (BROWSER_DIR / "index.html", "text/html; charset=utf-8"),
            "/index.html": (BROWSER_DIR / "index.html", "text/html; charset=utf-8"),
            "/check.js": (BROWSER_DIR / "check.js", "text/javascript; charset=utf-8"),
            "/stomp.umd.min.js": (js_dir / BUNDLE, "text/javascript; charset=utf-8"),
        }

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                entry = files.get(self.path.split("?", 1)[0])
                if entry is None:
                    self.send_error(404)
                    return
                body = entry[0].read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", entry[1])
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                # the browser may give up on this request (navigation, shutdown)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()


class Chromium:
    def __init__(self, binary: str, profile_dir: Path) -> None:
        self._binary = binary
        self._profile = profile_dir
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = profile_dir / "chromium.log"
        self._ws: websocket.WebSocket | None = None
        self._ids = itertools.count(1)

    def open(self, url: str, timeout: float = 20.0) -> None:
        """Start the browser on `url` and attach to that page over DevTools."""
        with open(self._log, "wb") as log:
            self._proc = subprocess.Popen(
                [self._binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", url],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its helper processes form our own group
            )
        deadline = time.monotonic() + timeout
        port = self._devtools_port(deadline)
        self._ws = websocket.create_connection(
            self._page_target(port, url, deadline), timeout=5, suppress_origin=True
        )

    def _devtools_port(self, deadline: float) -> int:
        marker = self._profile / "DevToolsActivePort"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise AssertionError(f"chromium exited {self._proc.returncode}: {self.log_tail()}")
            try:
                first = marker.read_text().splitlines()[0]
                return int(first)
            except (OSError, IndexError, ValueError):
                time.sleep(0.1)
        raise AssertionError(f"chromium did not open its DevTools port: {self.log_tail()}")

    def _page_target(self, port: int, url: str, deadline: float) -> str:
        page = url.split("#", 1)[0]
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:
                targets = json.load(resp)
            for target in targets:
                if target.get("type") == "page" and target.get("url", "").startswith(page):
                    return str(target["webSocketDebuggerUrl"])
            time.sleep(0.1)
        raise AssertionError(f"chromium shows no page for {page}: {self.log_tail()}")

    def evaluate(self, expression: str, timeout: float = EVALUATE_SECONDS) -> Any:
        """Value of a JavaScript expression in the page (Runtime.evaluate). The answer
        waits for the page's main thread, which a loaded machine may keep busy for
        seconds (parsing a large bundle): bounded by `timeout`, not by the socket's."""
        assert self._ws is not None
        call_id = next(self._ids)
        self._ws.send(
            json.dumps(
                {
                    "id": call_id,
                    "method": "Runtime.evaluate",
                    "params": {"expression": expression, "returnByValue": True},
                }
            )
        )
        deadline = time.monotonic() + timeout
        while True:
            self._ws.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                reply = json.loads(self._ws.recv())
            except websocket.WebSocketTimeoutException:
                raise AssertionError(
                    f"no answer to Runtime.evaluate in {timeout}s: {self.log_tail()}"
                ) from None
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise AssertionError(f"Runtime.evaluate failed: {reply['error']}")
                return reply["result"]["result"].get("value")

    def read_until_done(self, timeout: float = 15.0) -> tuple[str, dict[str, Any]]:
        """Poll the page's #status until it leaves "pending"; (status, #detail as JSON)."""
        # null until the page's elements exist (the first polls may run before).
        expression = (
            "(() => { const s = document.getElementById('status');"
            " const d = document.getElementById('detail');"
            " return s && d ? JSON.stringify({status: s.textContent, detail: d.textContent})"
            " : null; })()"
        )
        deadline = time.monotonic() + timeout
        while True:
            raw = self.evaluate(expression)
            state = json.loads(raw) if raw else {"status": "pending"}
            if state["status"] != "pending":
                detail = json.loads(state["detail"]) if state["detail"] else {}
                return state["status"], detail
            if time.monotonic() > deadline:
                raise AssertionError(f"page still pending after {timeout}s: {self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-1500:]
        except OSError:
            return "(no chromium log)"

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        # Renderer/zygote helpers share the browser's process group (its id is
        # the browser's pid, set by start_new_session); end any left over.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
