"""Pre-auth budgets on real sockets, over TCP, the WebSocket fast path and websockets'
public API (issue 10, point 2): a connection that has not finished CONNECT is charged
every byte it delivers; past `preauth_max_bytes` (per connection),
`preauth_max_total_bytes` (node-wide) or `preauth_max_connections` it gets ERROR and is
closed, and the node's pre-auth counters never pass their limits and return to zero.

Numbers: per connection 64 KiB, node-wide 100 KB and 2 connections (small, so each
test crosses them with a few hundred KB). What the node holds is read from the
broker's own counters (`broker.preauth`); tests/hostile/test_memory.py measures the
RSS of a whole node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from stompclient import StompClient

from stompim.broker import Principal, StaticAuthenticator
from stompim.broker.budget import BUSY_BYTES, BUSY_CONNECTIONS, too_much_input
from stompim.frames import Command

from .conftest import USERS, BrokerFactory, Harness, wait_for

KIB = 1024
PER_CONNECTION = 64 * KIB
CONNECT_HEAD = b"CONNECT\naccept-version:1.2\nlogin:alice\npasscode:pa\n\n"


class GatedAuthenticator:
    """StaticAuthenticator that answers only once `gate` is set (a slow password check)."""

    def __init__(self) -> None:
        self.inner = StaticAuthenticator(USERS)
        self.gate = asyncio.Event()
        self.waiting = 0

    async def authenticate(
        self, headers: Mapping[str, str], handshake_token: str | None
    ) -> Principal:
        self.waiting += 1
        await self.gate.wait()
        return await self.inner.authenticate(headers, handshake_token)


async def _error_then_closed(client: StompClient) -> str:
    frames = await client.closed()
    assert [f.command for f in frames] == [Command.ERROR], frames
    return frames[0].get("message") or ""


def _settled(hub: Harness) -> bool:
    return hub.broker.preauth.connections == 0 and hub.broker.preauth.bytes == 0


async def test_a_partial_frame_before_connect_is_cut_at_the_budget(
    make_broker: BrokerFactory, transport: str
) -> None:
    hub = await make_broker(preauth_max_bytes=PER_CONNECTION)
    client = await hub.open(transport)
    await client.send_raw(CONNECT_HEAD + b"x" * (PER_CONNECTION + 1000))   # no NUL: partial
    assert await _error_then_closed(client) == too_much_input(PER_CONNECTION)
    await wait_for(lambda: _settled(hub))


async def test_frames_streamed_behind_connect_are_cut_while_the_password_is_checked(
    make_broker: BrokerFactory, transport: str
) -> None:
    """CONNECT and at once 20 SENDs of 64 KiB (1.3 MB) in one write, the password check
    never finishing: the node reads at most a chunk past its budget, then ERROR."""
    limit = 8 * KIB   # under any first read of a 1.3 MB write (TCP stops reading at CONNECT)
    hub = await make_broker(preauth_max_bytes=limit)
    gated = GatedAuthenticator()
    hub.broker.authenticator = gated
    client = await hub.open(transport)
    send = b"SEND\ndestination:/topic/junk\n\n" + b"y" * (64 * KIB) + b"\x00"
    await client.send_raw(CONNECT_HEAD + b"\x00" + send * 20)
    assert await _error_then_closed(client) == too_much_input(limit)
    await wait_for(lambda: _settled(hub))
    gated.gate.set()


async def test_connect_and_a_few_frames_pipelined_within_the_budget_pass(
    make_broker: BrokerFactory, transport: str
) -> None:
    hub = await make_broker(preauth_max_bytes=PER_CONNECTION)
    client = await hub.open(transport)
    await client.send_raw(
        CONNECT_HEAD + b"\x00"
        + b"SUBSCRIBE\nid:0\ndestination:/topic/t\n\n\x00"
        + b"SEND\ndestination:/topic/t\n\n" + b"z" * (16 * KIB) + b"\x00"
    )
    assert (await client.frame()).command is Command.CONNECTED
    message = await client.frame()
    assert message.command is Command.MESSAGE and len(message.body) == 16 * KIB
    assert _settled(hub)


async def test_node_wide_cap_on_connections_awaiting_connect(
    make_broker: BrokerFactory, transport: str
) -> None:
    hub = await make_broker(preauth_max_connections=2)
    first = await hub.open(transport)
    second = await hub.open(transport)
    await wait_for(lambda: hub.broker.preauth.connections == 2)
    third = await hub.open(transport)
    assert await _error_then_closed(third) == BUSY_CONNECTIONS
    assert hub.broker.preauth.connections == 2
    assert (await first.connect()).command is Command.CONNECTED
    assert hub.broker.preauth.connections == 1
    fourth = await hub.open(transport)
    assert (await fourth.connect("bob", "pb")).command is Command.CONNECTED
    assert (await second.connect("carol", "pc")).command is Command.CONNECTED
    assert _settled(hub)


async def test_node_wide_cap_on_bytes_awaiting_connect(
    make_broker: BrokerFactory, transport: str
) -> None:
    hub = await make_broker(preauth_max_bytes=PER_CONNECTION, preauth_max_total_bytes=100_000)
    holder = await hub.open(transport)
    await holder.send_raw(CONNECT_HEAD + b"x" * 60_000)   # partial, within its own budget
    await wait_for(lambda: hub.broker.preauth.bytes >= 60_000)
    other = await hub.open(transport)
    await other.send_raw(CONNECT_HEAD + b"x" * 60_000)
    assert await _error_then_closed(other) == BUSY_BYTES
    assert hub.broker.preauth.bytes <= 100_000
    await holder.send_raw(b"\x00")                        # the holder's CONNECT completes
    assert (await holder.frame()).command is Command.CONNECTED
    await wait_for(lambda: _settled(hub))


@pytest.mark.parametrize("cut", [1, 7, 4096])
async def test_budget_counts_every_split_the_same(make_broker: BrokerFactory, cut: int) -> None:
    """A CONNECT fed in pieces of `cut` bytes is charged once per byte, then released."""
    hub = await make_broker(preauth_max_bytes=PER_CONNECTION)
    client = await hub.open("tcp")
    data = CONNECT_HEAD + b"\x00"
    for i in range(0, len(data), cut):
        await client.send_raw(data[i:i + cut])
    assert (await client.frame()).command is Command.CONNECTED
    assert _settled(hub)
