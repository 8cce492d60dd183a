"""STOMP over plain TCP: an asyncio Protocol that is also the connection's Link.

Thin on purpose: `data_received` hands bytes to the broker's Endpoint, the broker
writes through `write` (one `transport.write` per flush, no await),
`resume_writing` says the write buffer drained, `connection_lost` ends it.
Pending outbound bytes are the transport's write buffer.
"""

from __future__ import annotations

import asyncio
from typing import cast

from .link import Acceptor, Endpoint

__all__ = ["StompTcpProtocol"]


class StompTcpProtocol(asyncio.Protocol):
    """Call order (asyncio): connection_made, data_received*, eof_received?,
    connection_lost."""

    __slots__ = ("acceptor", "endpoint", "transport")

    def __init__(self, acceptor: Acceptor) -> None:
        self.acceptor = acceptor
        self.endpoint: Endpoint | None = None
        self.transport: asyncio.Transport | None = None

    # asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = self.transport = cast(asyncio.Transport, transport)
        soft = self.acceptor.soft_pending_bytes
        tcp.set_write_buffer_limits(high=soft, low=soft // 4)
        self.endpoint = self.acceptor.accept(self)

    def pause_writing(self) -> None:
        pass   # the broker reads the buffer size itself after each write

    def resume_writing(self) -> None:
        if self.endpoint is not None:
            self.endpoint.writable()

    def data_received(self, data: bytes) -> None:
        assert self.endpoint is not None
        self.endpoint.receive(data)

    def eof_received(self) -> bool:
        return False   # close our side too: STOMP has no half-close

    def connection_lost(self, exc: Exception | None) -> None:
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
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
