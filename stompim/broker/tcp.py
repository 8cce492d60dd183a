"""STOMP over plain TCP: an asyncio Protocol that feeds the session.

Thin on purpose: `data_received` feeds bytes, the session writes through
`TcpLink.write` (one `transport.write` per flush, no await), `connection_lost`
tells the session.  Pending outbound bytes are the transport's write buffer.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from stompim.logs import CURRENT_SESSION

if TYPE_CHECKING:
    from .broker import Broker
    from .session import Session

__all__ = ["StompTcpProtocol", "TcpLink"]


class TcpLink:
    __slots__ = ("transport",)

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def write(self, chunks: list[tuple[bytes, bool]]) -> None:
        if self.transport.is_closing():
            return
        if len(chunks) == 1:
            self.transport.write(chunks[0][0])
        else:
            self.transport.write(b"".join([c[0] for c in chunks]))

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size()

    def close(self) -> None:
        self.transport.close()

    def abort(self) -> None:
        self.transport.abort()

    def pause_reading(self) -> None:
        if not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.transport.is_closing():
            self.transport.resume_reading()


class StompTcpProtocol(asyncio.Protocol):
    """Call order (asyncio): connection_made, data_received*, eof_received?,
    connection_lost."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.session: Session | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = cast(asyncio.Transport, transport)
        soft = self.broker.soft_pending_bytes
        tcp.set_write_buffer_limits(high=soft, low=soft // 4)
        self.session = self.broker.open_session(TcpLink(tcp))

    def pause_writing(self) -> None:
        pass   # the session reads the buffer size itself (Session.flush)

    def resume_writing(self) -> None:
        if self.broker.congested:
            self.broker.relieve()

    def data_received(self, data: bytes) -> None:
        assert self.session is not None
        scope = CURRENT_SESSION.set(self.session)  # log lines name this session
        try:
            self.session.feed(data)
        finally:
            CURRENT_SESSION.reset(scope)

    def eof_received(self) -> bool:
        return False   # close our side too: STOMP has no half-close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.session.on_lost()
