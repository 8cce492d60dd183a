"""STOMP over plain TCP: an asyncio Protocol that is also the connection's Link.

Thin on purpose: `data_received` hands bytes to the broker's Endpoint, the broker
writes through `write` (one `transport.write` per flush, no await),
`resume_writing` says the write buffer drained, `connection_lost` ends it.
Pending outbound bytes are the transport's write buffer.

Closing lingers: `close` sends what is buffered, then a FIN (`write_eof`), and reads
and drops what the client still sends until it closes too (or `LINGER_SECONDS`
passed).  Closing at once while the client's frames are still arriving would make
the kernel answer them with a reset, and a reset makes the client's kernel discard
what it had not yet read: the last RECEIPTs and the ERROR that ends the session.
"""

from __future__ import annotations

import asyncio
from typing import cast

from .link import Acceptor, Endpoint

__all__ = ["LINGER_SECONDS", "StompTcpProtocol"]

LINGER_SECONDS = 2.0
"""How long a closing connection waits for the client to close its side."""


class StompTcpProtocol(asyncio.Protocol):
    """Call order (asyncio): connection_made, data_received*, eof_received?,
    connection_lost."""

    __slots__ = ("acceptor", "endpoint", "linger", "transport")

    def __init__(self, acceptor: Acceptor) -> None:
        self.acceptor = acceptor
        self.endpoint: Endpoint | None = None
        self.transport: asyncio.Transport | None = None
        self.linger: asyncio.TimerHandle | None = None   # closing: the bound of the wait

    # asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = self.transport = cast(asyncio.Transport, transport)
        soft = self.acceptor.soft_pending_bytes
        tcp.set_write_buffer_limits(high=soft, low=soft // 4)
        self.endpoint = self.acceptor.accept(self, peer=peer_address(tcp))

    def pause_writing(self) -> None:
        pass   # the broker reads the buffer size itself after each write

    def resume_writing(self) -> None:
        if self.endpoint is not None:
            self.endpoint.writable()

    def data_received(self, data: bytes) -> None:
        if self.linger is not None:
            return     # closing: dropped unread
        assert self.endpoint is not None
        self.endpoint.receive(data)

    def eof_received(self) -> bool:
        return False   # close our side too: STOMP has no half-close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.linger is not None:
            self.linger.cancel()
        if self.endpoint is not None:
            self.endpoint.lost()

    # Link -------------------------------------------------------------------

    def write(self, chunks: list[tuple[bytes, bool]]) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if len(chunks) == 1:
            transport.write(chunks[0][0])
        else:
            transport.write(b"".join([c[0] for c in chunks]))

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def close(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing() or self.linger is not None:
            return
        if not transport.can_write_eof():
            transport.close()
            return
        try:
            transport.write_eof()      # after what is buffered: then the client's turn
        except OSError:                # the peer is gone already
            transport.abort()
            return
        transport.resume_reading()
        self.linger = asyncio.get_running_loop().call_later(LINGER_SECONDS, transport.close)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()


def peer_address(transport: asyncio.BaseTransport) -> str | None:
    """The remote IP address of a socket transport (None for a Unix socket or unknown)."""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        return peer[0]
    return None
