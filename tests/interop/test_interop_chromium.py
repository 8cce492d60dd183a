"""STOMP.js in a real headless Chromium, over the browser's own WebSocket.

The page (browser/index.html + check.js) loads the STOMP.js UMD bundle from an
http:// origin, connects to the broker's ws:// endpoint, subscribes, publishes
a text and a binary message and writes its verdict into the DOM; the test
reads the DOM back through the DevTools protocol.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from urllib.parse import quote

import pytest

from ._broker import USERS, BrokerRunner
from ._chromium import Chromium, PageServer

pytestmark = [pytest.mark.slow, pytest.mark.node]


def test_stompjs_in_chromium_round_trip(
    js_dir: Path, chromium_binary: str, broker: BrokerRunner, tmp_path: Path
) -> None:
    token = secrets.token_hex(6)
    params = {
        "url": broker.ws_url,
        "login": "alice",
        "passcode": USERS["alice"][1],
        "destination": "/topic/browser.check",
        "token": token,
        "timeoutMs": 10000,
    }
    server = PageServer(js_dir)
    browser = Chromium(chromium_binary, tmp_path / "profile")
    (tmp_path / "profile").mkdir()
    try:
        server.start()
        browser.open(f"{server.origin}/index.html#{quote(json.dumps(params))}")
        status, detail = browser.read_until_done(timeout=20)
    finally:
        browser.close()
        server.close()

    assert status == "ok", f"page says {status!r}; report {detail}"
    assert detail["version"] == "1.2"
    text, binary = detail["received"]
    assert text["body"] == f"hello from chromium {token}"
    assert text["headers"]["destination"] == "/topic/browser.check"
    assert text["headers"]["subscription"] == "browser-1"
    assert binary["bytes"] == "98,0,105,0,255,110"
    assert detail["errors"] == []
