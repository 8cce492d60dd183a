"""Session listeners: opened after CONNECTED, closed once whatever ends the session,
never blocking the session, failures logged."""

from __future__ import annotations

import asyncio
import logging

import pytest

from stompim.broker import Principal, SessionListener

from .conftest import BrokerFactory, Harness, wait_for


class Recorder:
    """Records calls; `gate` (when cleared) holds session_opened."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def session_opened(self, principal: Principal) -> None:
        await self.gate.wait()
        self.calls.append(("opened", principal.user_id))

    async def session_closed(self, principal: Principal) -> None:
        self.calls.append(("closed", principal.user_id))


class Broken:
    async def session_opened(self, principal: Principal) -> None:
        raise RuntimeError("presence store down")

    async def session_closed(self, principal: Principal) -> None:
        raise RuntimeError("presence store down")


@pytest.fixture
async def recorded(hub: Harness) -> tuple[Harness, Recorder]:
    recorder = Recorder()
    listener: SessionListener = recorder
    hub.broker.add_session_listener(listener)
    return hub, recorder


async def test_opened_then_closed_on_disconnect(recorded: tuple[Harness, Recorder],
                                                transport: str) -> None:
    hub, rec = recorded
    client = await hub.connected(transport, "bob")
    await wait_for(lambda: rec.calls == [("opened", 2)])
    await client.send_frame("DISCONNECT", {"receipt": "bye"})
    await client.receipt("bye")
    await wait_for(lambda: rec.calls == [("opened", 2), ("closed", 2)])
    await asyncio.sleep(0.05)
    assert rec.calls == [("opened", 2), ("closed", 2)]     # once each


async def test_closed_on_lost_transport_and_on_error(
        recorded: tuple[Harness, Recorder], transport: str) -> None:
    hub, rec = recorded
    gone = await hub.connected(transport, "alice")
    failing = await hub.connected(transport, "carol")
    await wait_for(lambda: len(rec.calls) == 2)
    await gone.close()
    await failing.send_frame("SEND", {})        # no destination: ERROR + close
    await failing.closed()
    await wait_for(lambda: len(rec.calls) == 4)
    assert sorted(rec.calls[2:]) == [("closed", 1), ("closed", 3)]


async def test_no_calls_without_authentication(recorded: tuple[Harness, Recorder]) -> None:
    hub, rec = recorded
    client = await hub.open("tcp")
    reply = await client.connect("alice", "wrong")
    assert reply.command.value == "ERROR"
    await client.closed()
    await asyncio.sleep(0.05)
    assert rec.calls == []


async def test_slow_listener_does_not_block_and_order_is_kept(
        recorded: tuple[Harness, Recorder]) -> None:
    hub, rec = recorded
    rec.gate.clear()                       # session_opened hangs
    client = await hub.connected("tcp", "alice")
    await client.subscribe("/topic/t", receipt="s")
    await client.send_frame("SEND", {"destination": "/topic/t"}, b"x")
    assert (await client.frame()).body == b"x"
    await client.close()
    await asyncio.sleep(0.05)
    assert rec.calls == []                 # closed waits for opened to finish
    rec.gate.set()
    await wait_for(lambda: rec.calls == [("opened", 1), ("closed", 1)])


async def test_failing_listener_is_logged(
        hub: Harness, caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    hub.broker.add_session_listener(Broken())
    hub.broker.add_session_listener(rec)   # later listeners still run
    client = await hub.connected("tcp", "alice")
    with caplog.at_level(logging.ERROR, logger="stompim.broker.listeners"):
        await wait_for(lambda: rec.calls == [("opened", 1)])
        await client.close()
        await wait_for(lambda: rec.calls == [("opened", 1), ("closed", 1)])
    assert sum("presence store down" in (r.exc_text or "") for r in caplog.records) == 2


async def test_broker_close_reports_closed(make_broker: BrokerFactory) -> None:
    hub = await make_broker()
    rec = Recorder()
    hub.broker.add_session_listener(rec)
    await hub.connected("ws", "bob")
    await wait_for(lambda: rec.calls == [("opened", 2)])
    await hub.broker.close()
    assert rec.calls == [("opened", 2), ("closed", 2)]
