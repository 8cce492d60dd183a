"""The built-in web client (stompim/http/webclient) in headless Chromium against a whole node.

Two users in two browser contexts (separate storage, as two browsers) do everything
through the page itself: register, find each other, send and accept a friend request,
chat with receipts ("Sending…" -> "Sent" -> "Read"), one loses the network and comes
back to find what was sent meanwhile exactly once and in order, one reloads mid-chat.
Names and messages carrying HTML are shown as text. A screenshot is written under the
test's tmp dir (path printed) and checked to be a real picture. (docs/webclient.png, the
README's picture, is made by docs/webclient-screenshot.py with the same tools.)
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from ._cdp import Browser, Page
from ._fullnode import FullNode
from ._loop import LoopThread

pytestmark = [pytest.mark.slow]

PASSWORD = "web-passw0rd"
EVIL_NICK = '<img src=x onerror="window.__pwned=1">Alice'
EVIL_TEXT = "<script>window.__pwned=2</script><b>bold?</b> & done"


@pytest.fixture
def node(loop_thread: LoopThread, tmp_path: Path) -> Iterator[FullNode]:
    node = FullNode(loop_thread, tmp_path / "web.db")
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def browser(chromium_binary: str, tmp_path: Path) -> Iterator[Browser]:
    browser = Browser(chromium_binary, tmp_path / "profile")
    browser.start()
    try:
        yield browser
    finally:
        browser.close()


def register(page: Page, username: str, nickname: str) -> None:
    page.click("[data-mode=register]")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=nickname]", nickname)
    page.click("[data-action=submit]")
    page.wait_for(".conn-dot.open", timeout=15)


def bubbles(page: Page) -> list[str]:
    return page.texts(".messages .msg .bubble")


def states(page: Page) -> list[str]:
    return page.texts(".messages .msg.mine .state")


def send(page: Page, text: str) -> None:
    page.fill("textarea[name=message]", text)
    page.click("[data-action=send]")


def _as_js_json(values: list[str]) -> str:
    """A JS string literal holding the JSON.stringify of `values`."""
    return json.dumps(json.dumps(values, separators=(",", ":")))


def wait_bubbles(page: Page, expected: list[str], timeout: float = 10.0) -> None:
    page.wait(
        "JSON.stringify([...document.querySelectorAll('.messages .msg .bubble')]"
        f".map(e => e.textContent)) === {_as_js_json(expected)}",
        timeout,
        f"bubbles {expected}; now {bubbles(page)}",
    )


def wait_states(page: Page, expected: list[str], timeout: float = 10.0) -> None:
    page.wait(
        "JSON.stringify([...document.querySelectorAll('.messages .msg.mine .state')]"
        f".map(e => e.dataset.state)) === {_as_js_json(expected)}",
        timeout,
        f"states {expected}; now {states(page)}",
    )


def test_two_users_chat_through_the_web_client(
    node: FullNode, browser: Browser, tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{node.ports.http}/"
    tag = secrets.token_hex(3)
    alice_name, bob_name = f"alice_{tag}", f"bob_{tag}"
    alice = browser.new_page(base)
    bob = browser.new_page(base)
    register(alice, alice_name, EVIL_NICK)
    register(bob, bob_name, "Bob")

    # Alice finds Bob and asks; Bob sees the request arrive live and accepts.
    alice.click("[data-tab=contacts]")
    alice.fill("input[name=search]", bob_name)
    alice.click("[data-action=search]")
    alice.click(f"[data-action=add-friend][data-user={bob_name}]")
    bob.click("[data-tab=contacts]")
    bob.click(f"[data-action=accept][data-user={alice_name}]")
    alice.wait_for(f"[data-friend={bob_name}]")  # FRIEND_ACCEPTED reached her live
    bob.wait_for(f"[data-friend={alice_name}]")

    # A message goes "Sending…" -> "Sent" (RECEIPT: stored) -> "Read" (Bob opened it).
    alice.click(f"[data-friend={bob_name}]")
    send(alice, EVIL_TEXT)
    wait_states(alice, ["sent"])
    bob.click("[data-tab=chats]")
    bob.wait("document.querySelector('.chat-row [data-unread]')?.dataset.unread === '1'")
    bob.click(".chat-row")
    wait_bubbles(bob, [EVIL_TEXT])
    wait_states(alice, ["read"])
    send(bob, "hi Alice")
    wait_bubbles(alice, [EVIL_TEXT, "hi Alice"])

    # Bob's network drops; Alice writes meanwhile (each message stored: "Sent").
    bob.offline(True)
    assert bob.close_websockets() == 1
    bob.wait_for(".conn-dot.waiting")
    assert not bob.evaluate("document.querySelector('.conn-banner').hidden")
    missed = [f"while you were away {i}" for i in range(1, 4)]
    for text in missed:
        send(alice, text)
    wait_states(alice, ["read", "sent", "sent", "sent"])
    # Bob writes offline too: held as "Sending…", sent once the connection is back.
    send(bob, "typed offline")
    bob.wait_for(".msg.pending [data-state=sending]")
    bob.offline(False)
    bob.wait_for(".conn-dot.open", timeout=20)
    everything = [EVIL_TEXT, "hi Alice", *missed, "typed offline"]
    wait_bubbles(bob, everything)
    wait_bubbles(alice, everything)
    wait_states(alice, ["read", "read", "read", "read"])  # Bob has the chat open

    # Bob reloads mid-chat while Alice sends: still signed in, the chat whole and in order.
    bob.reload()
    send(alice, "sent during the reload")
    bob.wait_for(".chat-row", timeout=15)
    bob.click(".chat-row")
    wait_bubbles(bob, [*everything, "sent during the reload"])

    # Server text is never HTML: names and messages show as written, nothing ran.
    for page in (alice, bob):
        assert page.evaluate("window.__pwned") is None
        injected = "document.querySelectorAll('#app img, #app script, .bubble b').length"
        assert page.evaluate(injected) == 0
    assert alice.texts(".me-name") == [EVIL_NICK]
    assert bob.texts(".chat-title") == [EVIL_NICK]
    assert alice.errors() == [] and bob.errors() == []

    # The screenshot: Alice's window, a real picture (not blank, many colours).
    shot = tmp_path / "webclient.png"
    image = Image.open(io.BytesIO(alice.screenshot(shot))).convert("RGB")
    print(f"web client screenshot: {shot}")
    assert image.size == (1280, 800)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "screenshot looks blank"
    assert max(count for count, _ in colours) < 0.9 * 1280 * 800
