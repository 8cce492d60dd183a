"""The built-in web client (stompim/http/webclient) in headless Chromium against a whole node.

Two users in two browser contexts (separate storage, as two browsers) do everything
through the page itself: register, find each other, send and accept a friend request,
chat with receipts ("Sending…" -> "Sent" -> "Read"), one loses the connection and comes
back to find what was sent meanwhile exactly once and in order, one reloads mid-chat, and a
message written while disconnected survives a reload and is sent once.
Names and messages carrying HTML are shown as text. A screenshot is written under the
test's tmp dir (path printed) and checked to be a real picture. (docs/webclient.png, the
README's picture, is made by docs/webclient-screenshot.py with the same tools.)
"""

from __future__ import annotations

import io
import json
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from ._cdp import Browser, Page
from ._fullnode import FullNode
from ._loop import LoopThread

pytestmark = [pytest.mark.slow]

PASSWORD = "web-passw0rd"
REFUSING = "test.wsRefusedBy"
# Run before the page's scripts: while sessionStorage names a refusing address, every new
# WebSocket of the page goes there (a bound port nobody accepts on), as if the node could
# not be reached; kept in sessionStorage so it outlasts a reload. The page has no test hook.
SWITCH = (
    "(() => { const Native = window.WebSocket;"
    " window.WebSocket = class extends Native { constructor(url, protocols) {"
    f" super(sessionStorage.getItem('{REFUSING}') || url, protocols); }} }};"
    " })();"
)
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
def refusing_url() -> Iterator[str]:
    """A ws:// address that refuses every connection (bound, never listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/ws"


@pytest.fixture
def browser(chromium_binary: str, tmp_path: Path) -> Iterator[Browser]:
    browser = Browser(chromium_binary, tmp_path / "profile")
    browser.start()
    try:
        yield browser
    finally:
        browser.close()


def cut_off(page: Page, refusing_url: str) -> None:
    """The page's connection drops and new ones are refused (see SWITCH)."""
    page.evaluate(f"sessionStorage.setItem({REFUSING!r}, {refusing_url!r})")
    assert page.close_websockets() == 1
    page.wait_for(".conn-dot.waiting")
    assert not page.evaluate("document.querySelector('.conn-banner').hidden")


def reconnect(page: Page) -> None:
    """The node can be reached again; the browser says it is back online."""
    page.evaluate(f"sessionStorage.removeItem({REFUSING!r})")
    page.evaluate("window.dispatchEvent(new Event('online'))")


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
    node: FullNode, browser: Browser, refusing_url: str, tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{node.ports.http}/"
    tag = secrets.token_hex(3)
    alice_name, bob_name = f"alice_{tag}", f"bob_{tag}"
    alice = browser.new_page(base)
    bob = browser.new_page(base, init_script=SWITCH)
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

    # Bob's connection drops and cannot come back; Alice writes meanwhile ("Sent": stored).
    cut_off(bob, refusing_url)
    missed = [f"while you were away {i}" for i in range(1, 4)]
    for text in missed:
        send(alice, text)
    wait_states(alice, ["read", "sent", "sent", "sent"])
    # Bob writes offline too: held as "Sending…", sent once the connection is back.
    send(bob, "typed offline")
    bob.wait_for(".msg.pending [data-state=sending]")
    reconnect(bob)
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
    everything.append("sent during the reload")
    wait_bubbles(bob, everything)

    # A message still waiting for its connection survives a reload, and is sent once.
    cut_off(bob, refusing_url)
    send(bob, "waited through a reload")
    bob.wait_for(".msg.pending [data-state=sending]")
    bob.reload()
    bob.wait_for(".chat-row", timeout=15)
    bob.click(".chat-row")
    bob.wait_for(".msg.pending [data-state=sending]")
    reconnect(bob)
    everything.append("waited through a reload")
    wait_bubbles(bob, everything, timeout=20)
    wait_bubbles(alice, everything)

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


def sign_in(page: Page, username: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("[data-action=submit]")
    page.wait_for(".conn-dot.open", timeout=15)


def account(node: FullNode, username: str, nickname: str) -> tuple[int, str]:
    credentials = {"username": username, "password": PASSWORD}
    _, created = node.rest("POST", "/api/user/register", {**credentials, "nickname": nickname})
    _, login = node.rest("POST", "/api/user/login", credentials)
    return int(created["data"]["id"]), str(login["data"]["token"])


def test_a_group_through_the_web_client(node: FullNode, browser: Browser) -> None:
    """Create (a friend joins at once), invite (pushed live), join, chat, recall, leave."""
    base = f"http://127.0.0.1:{node.ports.http}/"
    tag = secrets.token_hex(3)
    names = {who: f"{who}_{tag}" for who in ("owner", "friend", "guest")}
    ids = {who: account(node, name, who.title()) for who, name in names.items()}
    for who in ("friend", "guest"):
        _, request = node.rest("POST", "/api/friend/request", {"toUserId": ids[who][0]},
                               ids["owner"][1])
        node.rest("POST", f"/api/friend/request/{request['data']['id']}/accept", None, ids[who][1])
    pages = {who: browser.new_page(base) for who in names}
    for who, page in pages.items():
        sign_in(page, names[who])
    owner, friend, guest = pages["owner"], pages["friend"], pages["guest"]

    owner.click("[data-tab=groups]")
    owner.click("[data-action=new-group]")
    owner.fill("input[name=groupName]", "Trail <b>crew</b>")
    owner.click(f"input[name=member][data-user={names['friend']}]")
    owner.click("[data-action=create-group]")
    owner.wait("document.querySelector('.chat-title')?.textContent === 'Trail <b>crew</b>'")
    send(owner, "first message")
    wait_states(owner, ["sent"])

    # Added directly, the friend gets no notification: the client looks again on focus.
    friend.evaluate("window.dispatchEvent(new Event('focus'))")
    friend.click("[data-tab=groups]")
    friend.click("[data-list=groups] button")
    wait_bubbles(friend, ["first message"])

    owner.click("[data-action=members]")
    owner.wait("document.querySelectorAll('[data-list=members] li').length === 2")
    owner.click(f".invite input[data-user={names['guest']}]")
    owner.click("[data-action=invite]")
    guest.wait("document.querySelector('[data-tab=groups] .badge')?.textContent === '1'")
    guest.click("[data-tab=groups]")
    guest.click("[data-action=join]")
    guest.click("[data-list=groups] button")
    wait_bubbles(guest, ["first message"])  # history from before joining
    send(guest, "hello crew")
    send(friend, "welcome!")
    everything = ["first message", "hello crew", "welcome!"]
    for page in (owner, friend, guest):
        wait_bubbles(page, everything)
        # the join is a system message: a line in the log, not a bubble
        page.wait("document.querySelector('.notice[data-event=member_joined]')?.textContent"
                  " === 'Guest joined (invited by Owner)'")
    assert friend.texts(".msg.theirs .sender") == ["Owner", "Guest"]
    # the owner and the friend have the chat open, so they read the guest's message:
    # read_count events tell the guest
    guest.wait("document.querySelector('.msg.mine .state')?.textContent === 'Read by 2'")

    # The sender recalls; every member sees it go.
    guest.click(".msg.mine [data-action=recall]")
    guest.click("dialog [data-action=confirm]")
    for page in (owner, friend, guest):
        page.wait("document.querySelectorAll('.msg.recalled').length === 1")
    assert "hello crew" not in " ".join(owner.texts(".bubble"))

    # The owner's alerts show the invitation was accepted.
    owner.click("[data-tab=alerts]")
    owner.wait("!!document.querySelector('[data-list=alerts] [data-type=INVITATION_ACCEPTED]')")

    # The guest leaves: the chat stays readable, writing to it ends.
    guest.click("[data-action=members]")
    guest.click("[data-action=quit]")
    guest.wait("document.querySelector('.composer').hidden")
    assert guest.texts(".chat-head .muted") == ["you are no longer a member"]
    send(owner, "after the guest left")
    after = ["first message", "Message recalled", "welcome!", "after the guest left"]
    wait_bubbles(friend, after)
    assert "after the guest left" not in guest.texts(".bubble")
    for page in (owner, friend, guest):
        assert page.errors() == []
