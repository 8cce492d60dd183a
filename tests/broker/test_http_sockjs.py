"""SockJsSessions and SockJsLink with a stand-in broker: each STOMP connection is told
`lost` exactly once, however its SockJS session ends."""

from __future__ import annotations

import asyncio

from stompim.broker.http_sockjs import SockJsOptions, SockJsSessions
from stompim.broker.link import Endpoint, Link


class FakeEndpoint:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.lost_calls = 0
        self.writable_calls = 0

    def receive(self, data: bytes) -> None:
        self.received.append(data)

    def writable(self) -> None:
        self.writable_calls += 1

    def lost(self) -> None:
        self.lost_calls += 1


class FakeBroker:
    """An Acceptor; `close_at_once` plays a broker that is shutting down (it closes
    every new connection inside `accept`)."""

    soft_pending_bytes = 100

    def __init__(self, close_at_once: bool = False) -> None:
        self.close_at_once = close_at_once
        self.endpoints: list[FakeEndpoint] = []
        self.links: list[Link] = []
        self.peers: list[str | None] = []

    def accept(self, link: Link, *, handshake_token: str | None = None,
               websocket: bool = False, peer: str | None = None) -> Endpoint:
        endpoint = FakeEndpoint()
        self.endpoints.append(endpoint)
        self.peers.append(peer)
        self.links.append(link)
        if self.close_at_once:
            link.write([(b"ERROR\nmessage:server shutting down\n\n\x00", True)])
            link.close()
        return endpoint


def sessions(broker: FakeBroker, **options: float) -> SockJsSessions:
    return SockJsSessions(broker, SockJsOptions(
        heartbeat=options.get("heartbeat", 25.0),
        disconnect_delay=options.get("disconnect_delay", 5.0),
        max_queued_bytes=int(options.get("max_queued_bytes", 1000))))


async def test_closed_inside_accept_is_lost_once_and_keeps_its_close_frame() -> None:
    broker = FakeBroker(close_at_once=True)
    registry = sessions(broker)
    link = registry.open("s1", None)
    await asyncio.sleep(0)
    assert broker.endpoints[0].lost_calls == 1
    link.sockjs.attach(0.0)
    frames = link.take()
    assert frames[0] == "o" and "server shutting down" in frames[1]
    assert frames[-1] == 'c[3000,"Go away!"]'
    await registry.close()
    assert broker.endpoints[0].lost_calls == 1


async def test_a_queue_over_its_bound_aborts_the_session() -> None:
    broker = FakeBroker()
    registry = sessions(broker, max_queued_bytes=50)
    link = registry.open("s1", "tok", "10.1.2.3")
    assert broker.peers == ["10.1.2.3"]          # the client's address, for login limits
    link.write([(b"x" * 40, True)])
    assert link.buffered() == 40
    link.write([(b"y" * 40, True)])       # would pass 50 bytes: dropped, session aborted
    await asyncio.sleep(0)
    assert broker.endpoints[0].lost_calls == 1
    assert link.sockjs.closed and link.buffered() == 0
    await registry.close()
    assert broker.endpoints[0].lost_calls == 1


async def test_taking_a_congested_queue_tells_the_broker_it_drained() -> None:
    broker = FakeBroker()
    registry = sessions(broker)
    link = registry.open("s1", None)
    link.sockjs.attach(0.0)
    link.take()
    link.write([(b"z" * 150, True)])      # above the soft limit (100)
    link.take()
    assert broker.endpoints[0].writable_calls == 1
    await registry.close()


async def test_expiry_ends_the_stomp_connection_once() -> None:
    broker = FakeBroker()
    registry = sessions(broker, disconnect_delay=2.0)
    link = registry.open("s1", None)
    start = link.sockjs.idle_since
    registry.sweep(start + 1.9)
    assert "s1" in registry.links
    registry.sweep(start + 2.0)
    assert "s1" not in registry.links
    await asyncio.sleep(0)
    assert broker.endpoints[0].lost_calls == 1
    registry.sweep(start + 10.0)
    await registry.close()
    assert broker.endpoints[0].lost_calls == 1


async def test_feed_waits_while_paused_and_stops_when_the_session_ends() -> None:
    broker = FakeBroker()
    registry = sessions(broker)
    link = registry.open("s1", None)
    link.pause_reading()
    feeding = asyncio.create_task(link.feed(["CONNECT", "SEND"]))
    await asyncio.sleep(0.01)
    assert broker.endpoints[0].received == []
    link.resume_reading()
    await asyncio.wait_for(feeding, 1)
    assert broker.endpoints[0].received == [b"CONNECT", b"SEND"]
    link.pause_reading()
    stuck = asyncio.create_task(link.feed(["more"]))
    await asyncio.sleep(0.01)
    link.abort()                                  # e.g. a slow consumer dropped
    await asyncio.wait_for(stuck, 1)              # the waiting xhr_send ends
    assert broker.endpoints[0].received == [b"CONNECT", b"SEND"]
    await registry.close()
