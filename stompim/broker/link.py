"""The seam between the broker and its transports (TCP, WebSocket), both ways.

A transport adapter stays thin: for each connection it asks an `Acceptor` (the
Broker) for an `Endpoint`, hands it every chunk of bytes (`receive`), tells it when
its write buffer drained (`writable`) and when the connection is gone (`lost`).  The
broker writes through the adapter's `Link`.  Neither side imports the other: the
broker passes itself as the Acceptor.

Call order per connection: `Acceptor.accept(link)` once the transport is open, then
`charge_raw`*, `receive`* and `writable`* in any order, then `lost` exactly once.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Acceptor", "Endpoint", "Link"]


class Link(Protocol):
    """What the broker needs from one transport connection."""

    def write(self, chunks: list[tuple[bytes, bool]]) -> None:
        """Write frames in order; the flag says "valid UTF-8" (a WebSocket text
        message).  Never blocks; does nothing once the connection is closing."""

    def buffered(self) -> int:
        """Bytes accepted by write() and not yet handed to the kernel."""

    def close(self) -> None:
        """Close after what was written is sent."""

    def abort(self) -> None:
        """Close now, dropping unsent data."""

    def pause_reading(self) -> None:
        """Stop delivering received bytes until resume_reading()."""

    def resume_reading(self) -> None: ...


class Endpoint(Protocol):
    """The broker's side of one connection, as its transport sees it."""

    def receive(self, data: bytes) -> None:
        """Bytes received, in order (any split)."""

    def charge_raw(self, n: int) -> bool:
        """`n` bytes were read from the socket (a transport that buffers them before
        `receive`, e.g. a partial WebSocket frame, reports its reads here so the
        pre-auth budget bounds what it holds); False: a limit was passed, the
        connection is closing."""

    def writable(self) -> None:
        """The transport's write buffer drained below its low-water mark."""

    def lost(self) -> None:
        """The connection is gone (called once)."""


class Acceptor(Protocol):
    """The broker, as a transport sees it."""

    @property
    def soft_pending_bytes(self) -> int:
        """Pending outbound bytes above which a connection counts as congested (the
        transport's high-water mark)."""

    def accept(
        self, link: Link, *, handshake_token: str | None = None, websocket: bool = False,
        peer: str | None = None,
    ) -> Endpoint:
        """A new connection: its Endpoint.  `handshake_token` is the token of a
        WebSocket handshake; `websocket` says frames go out as WebSocket messages;
        `peer` is the client's address (handed to the authenticator, for login limits)."""
