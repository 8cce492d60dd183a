"""A front end written the Spring way, in headless Chromium, against the REST port only.

Two pages (two browser contexts: two users) of the node's own origin
(`http://127.0.0.1:<http port>`; the STOMP WebSocket port is never used) load the
sockjs-client 1.6 and STOMP.js 7 bundles from js/node_modules, register and log in
with `fetch`, connect as a Spring front end does (`new SockJS("/ws")` under
@stomp/stompjs with the JWT in `connectHeaders`; then `brokerURL:
"ws://127.0.0.1:<http>/ws"`; then SockJS forced to xhr-streaming and to
xhr-polling), subscribe `/user/queue/chat` and `/user/queue/notification`, and one
sends `/app/chat/private` with a receipt that says "stored"; the peer's page
receives the message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._cdp import Browser, Page
from ._fullnode import FullNode
from ._loop import LoopThread

pytestmark = [pytest.mark.slow, pytest.mark.node]

PASSWORD = "chromium-passw0rd"
BUNDLES = (
    Path("node_modules/@stomp/stompjs/bundles/stomp.umd.min.js"),
    Path("node_modules/sockjs-client/dist/sockjs.min.js"),
)
MODES = ("sockjs", "ws", "xhr-streaming", "xhr-polling")

# The page's "front end": fetch for REST, STOMP.js over SockJS or a WebSocket.
FRONT_END = r"""
window.spring = {
  received: [], closes: [],
  async account(username, password) {
    const json = {'Content-Type': 'application/json'};
    await fetch('/api/user/register', {method: 'POST', headers: json,
      body: JSON.stringify({username, password})});
    const answer = await (await fetch('/api/user/login', {method: 'POST', headers: json,
      body: JSON.stringify({username, password})})).json();
    if (answer.code !== 200) throw new Error('login: ' + JSON.stringify(answer));
    this.token = answer.data.token;
    return answer.data.user.id;
  },
  connect(mode) {
    return new Promise((resolve, reject) => {
      const options = {
        connectHeaders: {Authorization: 'Bearer ' + this.token},
        reconnectDelay: 0, heartbeatIncoming: 4000, heartbeatOutgoing: 4000,
        onStompError: (frame) => reject(new Error('STOMP ERROR ' + frame.headers.message)),
        onWebSocketClose: (event) => { this.closes.push(event.code); reject(new Error('closed')); },
      };
      if (mode === 'ws') {
        options.brokerURL = 'ws://' + location.host + '/ws';
      } else {
        const forced = mode === 'sockjs' ? {} : {transports: [mode]};
        options.webSocketFactory = () => new SockJS('/ws', null, forced);
      }
      const client = this.client = new StompJs.Client(options);
      client.onConnect = () => {
        let pending = 2;
        const done = () => {
          if (--pending === 0) {
            const socket = client.webSocket;
            resolve(socket instanceof WebSocket ? 'native-websocket' : socket.transport);
          }
        };
        for (const [id, destination] of [['chat', '/user/queue/chat'],
                                         ['notes', '/user/queue/notification']]) {
          const receipt = 'sub-' + id;
          client.watchForReceipt(receipt, done);
          client.subscribe(destination, (message) => this.received.push(
            {destination: message.headers.destination, body: message.body}), {id, receipt});
        }
      };
      client.activate();
    });
  },
  send(toUserId, content) {
    return new Promise((resolve) => {
      const receipt = 'send-' + Math.random().toString(36).slice(2);
      this.client.watchForReceipt(receipt, (frame) => resolve(frame.headers));
      this.client.publish({destination: '/app/chat/private', headers: {receipt},
        body: JSON.stringify({toUserId, type: 'text', content})});
    });
  },
  async disconnect() { await this.client.deactivate(); this.received = []; },
};
true;
"""


@pytest.fixture(scope="module")
def module_loop() -> Iterator[LoopThread]:
    loop = LoopThread()
    loop.start()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def node(module_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullNode]:
    full = FullNode(module_loop, tmp_path_factory.mktemp("spring") / "node.db",
                    im={"allow_stranger_chat": True})
    full.start()
    try:
        yield full
    finally:
        full.stop()


def open_page(browser: Browser, node: FullNode, js_dir: Path) -> Page:
    """A page of the node's origin (its SockJS greeting) with the bundles and the
    front end loaded."""
    page = browser.new_page(f"http://127.0.0.1:{node.ports.http}/ws")
    page.wait("document.readyState === 'complete' && location.href.endsWith('/ws')")
    for bundle in BUNDLES:
        page.evaluate((js_dir / bundle).read_text(encoding="utf-8") + "\n;true")
    page.evaluate(FRONT_END)
    return page


def test_spring_front_end_in_chromium_over_sockjs_and_ws(
    js_dir: Path, chromium_binary: str, node: FullNode, tmp_path: Path
) -> None:
    browser = Browser(chromium_binary, tmp_path / "profile")
    try:
        browser.start()
        ada, bert = open_page(browser, node, js_dir), open_page(browser, node, js_dir)
        ada.evaluate(f"spring.account('ada', {json.dumps(PASSWORD)})")
        bert_id = bert.evaluate(f"spring.account('bert', {json.dumps(PASSWORD)})")
        used = {}
        for mode in MODES:
            used[mode] = ada.evaluate(f"spring.connect({json.dumps(mode)})")
            assert bert.evaluate(f"spring.connect({json.dumps(mode)})") == used[mode]
            text = f"hello bert over {mode}"
            receipt = ada.evaluate(f"spring.send({bert_id}, {json.dumps(text)})")
            assert receipt.get("message-id") and receipt.get("seq"), receipt   # stored
            got = bert.wait("spring.received.length && spring.received", 10, f"{mode} message")
            assert got[0]["destination"].startswith("/queue/chat/")
            assert json.loads(got[0]["body"])["content"] == text
            for page in (ada, bert):
                page.evaluate("spring.disconnect()")
        assert used == {"sockjs": "websocket", "ws": "native-websocket",
                        "xhr-streaming": "xhr-streaming", "xhr-polling": "xhr-polling"}
        assert ada.errors() == [] and bert.errors() == []
    finally:
        browser.close()
