"""stomp.py (the PyPI STOMP client) against stompim, over TCP and over WebSocket.

Every test runs against a fresh broker on real sockets.  "Nothing else arrived"
is never proved by sleeping: a marker message is sent after the thing that must
not be delivered, on the same connection, and the receiver must see the marker
with nothing before it (the broker keeps per-connection order).
"""

from __future__ import annotations

import threading
import time

import pytest

from ._stomppy import ClientFactory

# "ws": the WebSocket fast path; "ws-public": websockets' public API path
TRANSPORTS = ["tcp", "ws", "ws-public"]
VARIANTS = [("tcp", "1.2"), ("tcp", "1.1"), ("ws", "1.2"), ("ws", "1.1"), ("ws-public", "1.2"),
            ("ws-public", "1.1")]
VARIANT_IDS = [f"{t}-{v}" for t, v in VARIANTS]


@pytest.mark.parametrize(("transport", "version"), VARIANTS, ids=VARIANT_IDS)
def test_connect_negotiates_the_requested_version(
    clients: ClientFactory, transport: str, version: str
) -> None:
    client = clients.open(transport, version)
    connected = client.rec.connected
    assert connected is not None
    assert connected["version"] == version
    assert connected.get("server", "").startswith("stompim")
    assert client.conn.is_connected()


@pytest.mark.parametrize(("transport", "version"), VARIANTS, ids=VARIANT_IDS)
def test_send_and_receive_body_and_headers(
    clients: ClientFactory, transport: str, version: str
) -> None:
    alice = clients.open(transport, version, user="alice")
    bob = clients.open(transport, version, user="bob")
    alice.subscribe("/topic/interop.greetings", "greet-1")

    body = 'héllo, wörld — 你好 {"n": 1}'
    bob.send(
        "/topic/interop.greetings",
        body,
        content_type="application/json",
        **{"x-tenant": "acme:42", "x-trace": "t-1"},
    )

    [message] = alice.rec.wait_messages(1)
    assert message.body == body
    h = message.headers
    assert h["destination"] == "/topic/interop.greetings"
    assert h["subscription"] == "greet-1"
    assert h["message-id"]
    assert h["x-tenant"] == "acme:42"  # a ':' inside a value survives (escaped in 1.1+)
    assert h["x-trace"] == "t-1"
    assert h["content-type"].startswith("application/json")
    assert int(h["content-length"]) == len(body.encode("utf-8"))


@pytest.mark.parametrize(("transport", "version"), VARIANTS, ids=VARIANT_IDS)
def test_ack_auto_consumes_queue_messages(
    clients: ClientFactory, transport: str, version: str
) -> None:
    alice = clients.open(transport, version, user="alice")
    alice.subscribe("/queue/interop.auto", "q-1", ack="auto")
    alice.send("/queue/interop.auto", "one")
    alice.send("/queue/interop.auto", "two")
    assert [m.body for m in alice.rec.wait_messages(2)] == ["one", "two"]
    if version == "1.2":  # no ack header where no ACK is expected
        assert all("ack" not in m.headers for m in alice.rec.messages)
    alice.conn.disconnect()
    alice.rec.wait(lambda: alice.rec.disconnects > 0, "disconnect")

    bob = clients.open(transport, version, user="bob")
    bob.subscribe("/queue/interop.auto", "q-2", ack="auto")
    bob.send("/queue/interop.auto", "marker")
    assert [m.body for m in bob.rec.wait_messages(1)] == ["marker"]


@pytest.mark.parametrize(("transport", "version"), VARIANTS, ids=VARIANT_IDS)
def test_ack_client_is_cumulative(clients: ClientFactory, transport: str, version: str) -> None:
    alice = clients.open(transport, version, user="alice")
    alice.subscribe("/queue/interop.client", "q-1", ack="client")
    for body in ("m1", "m2", "m3"):
        alice.send("/queue/interop.client", body)
    messages = alice.rec.wait_messages(3)
    assert [m.body for m in messages] == ["m1", "m2", "m3"]
    if version == "1.2":
        assert all(m.headers.get("ack") for m in messages)

    receipt = alice.receipt("ack")
    alice.ack(messages[1], receipt=receipt)  # acknowledges m1 and m2, not m3
    alice.rec.wait_receipt(receipt)
    alice.conn.disconnect()
    alice.rec.wait(lambda: alice.rec.disconnects > 0, "disconnect")

    bob = clients.open(transport, version, user="bob")
    bob.subscribe("/queue/interop.client", "q-2", ack="auto")
    bob.send("/queue/interop.client", "marker")
    assert [m.body for m in bob.rec.wait_messages(2)] == ["m3", "marker"]


@pytest.mark.parametrize(("transport", "version"), VARIANTS, ids=VARIANT_IDS)
def test_ack_client_individual_acks_one_message(
    clients: ClientFactory, transport: str, version: str
) -> None:
    alice = clients.open(transport, version, user="alice")
    alice.subscribe("/queue/interop.individual", "q-1", ack="client-individual")
    for body in ("m1", "m2", "m3"):
        alice.send("/queue/interop.individual", body)
    messages = alice.rec.wait_messages(3)

    receipt = alice.receipt("ack")
    alice.ack(messages[1], receipt=receipt)  # only m2
    alice.rec.wait_receipt(receipt)
    alice.conn.disconnect()
    alice.rec.wait(lambda: alice.rec.disconnects > 0, "disconnect")

    bob = clients.open(transport, version, user="bob")
    bob.subscribe("/queue/interop.individual", "q-2", ack="auto")
    bob.send("/queue/interop.individual", "marker")
    assert [m.body for m in bob.rec.wait_messages(3)] == ["m1", "m3", "marker"]


@pytest.mark.parametrize(("transport", "version"), VARIANTS, ids=VARIANT_IDS)
def test_nack_redelivers_to_the_other_subscriber(
    clients: ClientFactory, transport: str, version: str
) -> None:
    alice = clients.open(transport, version, user="alice")
    bob = clients.open(transport, version, user="bob")
    alice.subscribe("/queue/interop.nack", "a-1", ack="client-individual")
    bob.subscribe("/queue/interop.nack", "b-1", ack="client-individual")
    carol = clients.open(transport, version, user="carol")
    carol.send("/queue/interop.nack", "hot potato")

    deadline = time.monotonic() + 5
    while not (alice.rec.messages or bob.rec.messages):
        assert time.monotonic() < deadline, "nobody got the queue message"
        time.sleep(0.01)
    first, other = (alice, bob) if alice.rec.messages else (bob, alice)
    [message] = first.rec.messages
    receipt = first.receipt("nack")
    first.nack(message, receipt=receipt)
    first.rec.wait_receipt(receipt)

    [again] = other.rec.wait_messages(1)
    assert again.body == "hot potato"
    assert again.headers["destination"] == "/queue/interop.nack"
    carol.send("/queue/interop.nack", "marker")  # round robin: the NACKer gets the next one
    assert [m.body for m in first.rec.wait_messages(2)] == ["hot potato", "marker"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_transaction_commit_delivers_and_abort_drops(
    clients: ClientFactory, transport: str
) -> None:
    alice = clients.open(transport, user="alice")
    bob = clients.open(transport, user="bob")
    alice.subscribe("/topic/interop.tx", "tx-sub")

    receipt = bob.receipt("begin")
    bob.conn.begin("tx-1", receipt=receipt)
    bob.rec.wait_receipt(receipt)
    bob.send("/topic/interop.tx", "in tx 1", transaction="tx-1")
    bob.send("/topic/interop.tx", "outside 1")
    assert alice.rec.wait_messages(1)[0].body == "outside 1"  # held until COMMIT
    receipt = bob.receipt("commit")
    bob.conn.commit("tx-1", receipt=receipt)
    bob.rec.wait_receipt(receipt)
    alice.rec.wait_messages(2)

    bob.conn.begin("tx-2")
    bob.send("/topic/interop.tx", "in tx 2", transaction="tx-2")
    receipt = bob.receipt("abort")
    bob.conn.abort("tx-2", receipt=receipt)
    bob.rec.wait_receipt(receipt)
    bob.send("/topic/interop.tx", "outside 2")

    assert [m.body for m in alice.rec.wait_messages(3)] == ["outside 1", "in tx 1", "outside 2"]
    assert bob.rec.errors == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_receipts_echo_each_frames_receipt_id(clients: ClientFactory, transport: str) -> None:
    alice = clients.open(transport)
    alice.conn.subscribe("/topic/interop.r", id="r-1", receipt="rcpt-subscribe")
    alice.conn.send("/topic/interop.r", "x", receipt="rcpt-send")
    alice.conn.begin("tx-r", receipt="rcpt-begin")
    alice.conn.commit("tx-r", receipt="rcpt-commit")
    alice.conn.unsubscribe(id="r-1", receipt="rcpt-unsubscribe")
    wanted = ["rcpt-subscribe", "rcpt-send", "rcpt-begin", "rcpt-commit", "rcpt-unsubscribe"]
    alice.rec.wait(lambda: len(alice.rec.receipts) >= len(wanted), "five receipts")
    assert alice.rec.receipts == wanted
    assert [m.body for m in alice.rec.messages] == ["x"]


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_heartbeats_keep_an_idle_connection_alive(clients: ClientFactory, transport: str) -> None:
    # The test broker offers heart-beat 500,500; the client asks for 1000,1000,
    # so both sides beat every 1000 ms (STOMP 1.2 "Heart-beating").
    alice = clients.open(transport, heartbeats=(1000, 1000))
    assert alice.rec.connected is not None
    assert alice.rec.connected["heart-beat"].replace(" ", "") == "500,500"

    # Idle for longer than the broker tolerates a silent client (1000 ms + the
    # test broker's 2000 ms grace): only stomp.py's heart-beats keep it open.
    time.sleep(3.6)

    assert alice.rec.heartbeats >= 2, f"server heart-beats seen: {alice.rec.heartbeats}"
    assert alice.rec.heartbeat_timeouts == 0
    assert alice.rec.disconnects == 0
    assert alice.conn.is_connected()
    alice.subscribe("/topic/interop.hb", "hb-1")
    alice.send("/topic/interop.hb", "still here")
    assert alice.rec.wait_messages(1)[0].body == "still here"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unsubscribe_stops_delivery(clients: ClientFactory, transport: str) -> None:
    alice = clients.open(transport, user="alice")
    bob = clients.open(transport, user="bob")
    alice.subscribe("/topic/interop.unsub", "u-1")
    alice.subscribe("/topic/interop.marker", "m-1")
    bob.send("/topic/interop.unsub", "before")
    alice.rec.wait_messages(1)

    receipt = alice.receipt("unsub")
    alice.conn.unsubscribe(id="u-1", receipt=receipt)
    alice.rec.wait_receipt(receipt)
    bob.send("/topic/interop.unsub", "after")
    bob.send("/topic/interop.marker", "marker")

    assert [m.body for m in alice.rec.wait_messages(2)] == ["before", "marker"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_disconnect_with_receipt(clients: ClientFactory, transport: str) -> None:
    alice = clients.open(transport)
    # stomp.py's disconnect(receipt=...) blocks until the receipt closes the
    # socket; run it on a thread so a broken broker fails the test, not hangs it.
    done = threading.Thread(target=alice.conn.disconnect, kwargs={"receipt": "bye-1"})
    done.start()
    done.join(5)
    assert not done.is_alive(), "DISCONNECT receipt never came"
    assert alice.rec.receipts == ["bye-1"]
    alice.rec.wait(lambda: alice.rec.disconnects == 1, "the socket to close")
    assert not alice.conn.is_connected()
    assert alice.rec.errors == []


@pytest.mark.parametrize(("transport", "version"), VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize(
    ("user", "passcode"), [("alice", "wrong"), ("mallory", "x")], ids=["bad-pass", "no-user"]
)
def test_auth_failure_is_an_error_frame_then_close(
    clients: ClientFactory, transport: str, version: str, user: str, passcode: str
) -> None:
    client = clients.open(transport, version, connect=False)
    client.conn.connect(user, passcode, wait=False)
    client.rec.wait(lambda: bool(client.rec.errors), "ERROR")
    error = client.rec.errors[0]
    assert error.headers.get("message"), error
    assert client.rec.connected is None
    client.rec.wait(lambda: client.rec.disconnects > 0, "the server to close the connection")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ack_inside_a_transaction_counts_only_at_commit(
    clients: ClientFactory, transport: str
) -> None:
    alice = clients.open(transport, user="alice")
    alice.subscribe("/queue/interop.txack", "q-1", ack="client-individual")
    alice.send("/queue/interop.txack", "kept")
    alice.send("/queue/interop.txack", "taken")
    kept, taken = alice.rec.wait_messages(2)

    alice.conn.begin("tx-a")
    alice.ack(kept, transaction="tx-a")
    receipt = alice.receipt("abort")
    alice.conn.abort("tx-a", receipt=receipt)  # this ACK never happened
    alice.rec.wait_receipt(receipt)
    alice.conn.begin("tx-c")
    alice.ack(taken, transaction="tx-c")
    receipt = alice.receipt("commit")
    alice.conn.commit("tx-c", receipt=receipt)  # this one did
    alice.rec.wait_receipt(receipt)
    alice.conn.disconnect()
    alice.rec.wait(lambda: alice.rec.disconnects > 0, "disconnect")

    bob = clients.open(transport, user="bob")
    bob.subscribe("/queue/interop.txack", "q-2")
    bob.send("/queue/interop.txack", "marker")
    assert [m.body for m in bob.rec.wait_messages(2)] == ["kept", "marker"]
