"""Make docs/webclient.png, the README's picture of the web client.

A throw-away node (SQLite in a temp dir), four people with a few real conversations typed
through their own browser pages (headless Chromium, driven as tests/interop does), then a
picture of Alice's window. Run from the repository root:

    .venv/bin/python docs/webclient-screenshot.py [--narrow]

`--narrow` also writes docs/webclient-narrow.png (a phone-sized window).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from interop._cdp import Browser, Page  # noqa: E402
from interop._fullnode import FullNode  # noqa: E402
from interop._loop import LoopThread  # noqa: E402
from interop._services import find_chromium  # noqa: E402

PASSWORD = "screenshot-passw0rd"
PEOPLE = {"alice": "Alice Martin", "bob": "Bob Stone", "carol": "Carol Lee", "dan": "Dan Okafor"}


def call(node: FullNode, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    _, envelope = node.rest(method, path, body, token)
    assert envelope["code"] == 200, (path, envelope)
    return envelope["data"]


def sign_in(browser: Browser, base: str, username: str, width: int, height: int) -> Page:
    page = browser.new_page(base, width, height)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("[data-action=submit]")
    page.wait_for(".conn-dot.open", timeout=15)
    return page


def say(page: Page, text: str) -> None:
    page.fill("textarea[name=message]", text)
    page.click("[data-action=send]")
    page.wait("!document.querySelector('.msg.pending')")
    time.sleep(0.15)  # distinct timestamps, natural order on screen


def open_chat(page: Page, name: str) -> None:
    page.click("[data-tab=chats]")
    row = (
        "[...document.querySelectorAll('.chat-row')]"
        f".find(e => e.querySelector('.name').textContent === {name!r})"
    )
    page.wait(f"!!{row}")
    page.evaluate(f"{row}.click()")


def main() -> None:
    narrow = "--narrow" in sys.argv
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("Chromium is needed (apt-get install chromium)")
    loop = LoopThread()
    loop.start()
    with tempfile.TemporaryDirectory() as tmp:
        node = FullNode(loop, Path(tmp) / "shot.db")
        node.start()
        browser = Browser(chromium, Path(tmp) / "profile")
        browser.start()
        try:
            base = f"http://127.0.0.1:{node.ports.http}/"
            ids, tokens = {}, {}
            for user, nickname in PEOPLE.items():
                body = {"username": user, "password": PASSWORD, "nickname": nickname}
                ids[user] = call(node, "POST", "/api/user/register", body)["id"]
                login = {"username": user, "password": PASSWORD}
                tokens[user] = call(node, "POST", "/api/user/login", login)["token"]
            for a, b in (("alice", "bob"), ("alice", "carol"), ("alice", "dan"), ("bob", "carol")):
                request = call(node, "POST", "/api/friend/request", {"toUserId": ids[b]}, tokens[a])
                call(node, "POST", f"/api/friend/request/{request['id']}/accept", None, tokens[b])
            group = call(node, "POST", "/api/group", {
                "name": "Weekend hikers", "memberIds": [ids["bob"], ids["carol"]],
            }, tokens["alice"])
            pages = {u: sign_in(browser, base, u, 1280, 800) for u in ("alice", "bob", "carol")}
            alice, bob, carol = pages["alice"], pages["bob"], pages["carol"]

            alice.click("[data-tab=contacts]")
            alice.click("[data-friend=dan]")
            say(alice, "Dan, did the tent arrive?")

            for page in (alice, carol):
                page.click("[data-tab=groups]")
                page.click("[data-group='Weekend hikers']")
            say(alice, "Who is in for Saturday? Trail starts 9:00 at the north gate.")
            say(carol, "Count me in! I'll bring the map.")

            alice.click("[data-tab=contacts]")
            alice.click("[data-friend=bob]")
            say(alice, "Morning Bob! Are we still on for the climb this weekend?")
            open_chat(bob, "Alice Martin")
            say(bob, "Absolutely. Forecast says sunny ☀️")
            say(bob, "I can drive — pick you up at 8:15?")
            say(alice, "Perfect, see you then.")
            say(alice, "I'll bring coffee for the road.")
            alice.wait("document.querySelectorAll('.msg.mine [data-state=read]').length === 3")

            carol.click("[data-tab=groups]")
            carol.click("[data-group='Weekend hikers']")
            say(carol, "Also: anyone has spare trekking poles?")
            alice.click("[data-tab=chats]")
            alice.wait("document.querySelectorAll('.chat-row').length === 3")
            alice.evaluate("document.getElementById('toasts').replaceChildren()")
            alice.evaluate("document.activeElement.blur()")
            time.sleep(0.3)
            out = ROOT / "docs" / "webclient.png"
            alice.screenshot(out)
            print(f"wrote {out} (group {group['id']})")
            if narrow:
                bob.viewport(390, 780)
                bob.evaluate("document.getElementById('toasts').replaceChildren()")
                time.sleep(0.3)
                out = ROOT / "docs" / "webclient-narrow.png"
                bob.screenshot(out)
                print(f"wrote {out}")
        finally:
            browser.close()
            node.stop()
    loop.close()


if __name__ == "__main__":
    main()
