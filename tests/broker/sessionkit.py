"""Sessions without sockets: a test plays the broker's part by hand.

`World` is what a broker shares between its sessions (settings, the exchange with a
real router and real destination rules, a DestinationHandler for the chat prefixes
that is only ever asked `handles`).  `Peer` is one sans-I/O Session plus a parser of
what it writes: the test feeds it bytes (whole, or cut at any size), reads the frames
it wrote and the events it made, and answers the events itself (`authenticated`,
`send_settled`, ...), in whatever order it wants.  No event loop is involved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stompim.broker import Principal
from stompim.broker.context import SessionContext
from stompim.broker.destinations import DestinationRules
from stompim.broker.events import (
    Authenticate,
    AuthorizeSubscribe,
    BeginSend,
    Close,
    PauseReading,
    ResumeReading,
    SessionEvent,
)
from stompim.broker.exchange import Exchange, Stats
from stompim.broker.router import Router, queue_limits
from stompim.broker.session import Session
from stompim.config import Config
from stompim.frames import Command, Frame, FrameParser, encode

__all__ = ["ALICE", "BOB", "ChatPrefixes", "Peer", "World", "frame_bytes"]

ALICE = Principal(1, "alice")
BOB = Principal(2, "bob")


class ChatPrefixes:
    """A DestinationHandler as far as a session sees one: it owns the chat prefixes.
    The broker calls its other methods; in these tests the test itself is the broker."""

    def handles(self, destination: str) -> bool:
        return destination.startswith(("/topic/chat/", "/app/chat/"))

    async def authorize_subscribe(self, principal: Principal, destination: str) -> None:
        raise AssertionError("sans-I/O tests answer AuthorizeSubscribe themselves")

    def ordered(self, destination: str) -> bool:
        return False

    async def head(self, principal: Principal, destination: str) -> int:
        raise AssertionError("sans-I/O tests answer the head themselves")

    async def replay(self, principal: Principal, destination: str,
                     since: int) -> list[tuple[dict[str, str], bytes]]:
        raise AssertionError("sans-I/O tests answer the replay themselves")

    def begin_send(self, principal: Principal, destination: str, headers: Mapping[str, str],
                   body: bytes) -> Any:
        raise AssertionError("sans-I/O tests answer BeginSend themselves")


class World:
    def __init__(self, **stomp: Any) -> None:
        settings: dict[str, Any] = {"heartbeat_send_ms": 0, "heartbeat_receive_ms": 0}
        settings.update(stomp)
        self.config = Config().replace(stomp=settings).stomp
        self.now = 0.0   # the router's clock (queue TTLs); tests move it themselves
        self.rules = DestinationRules(self.config.open_generic_destinations)
        self.rules.add_handler(ChatPrefixes())
        self.router = Router(queue_limits(self.config), clock=lambda: self.now)
        self.exchange = Exchange(self.rules, self.router, "n")
        self.ctx = SessionContext(self.config, self.exchange, Stats())
        self.count = 0

    def peer(self, principal: Principal | None = None, **kwargs: Any) -> Peer:
        """A new session; CONNECTED as `principal` when one is given."""
        self.count += 1
        peer = Peer(self, f"s{self.count}", **kwargs)
        if principal is not None:
            peer.connect(principal)
        return peer


def frame_bytes(command: str, headers: dict[str, str] | None = None, body: bytes = b"",
                version: str = "1.2") -> bytes:
    return encode(Frame.build(Command(command), headers or {}, body), version)


class Peer:
    def __init__(self, world: World, session_id: str, now: float = 0.0, **kwargs: Any) -> None:
        self.world = world
        self.woken = 0
        self.session = Session(session_id, world.ctx, self._wake, now, **kwargs)
        self.parser = FrameParser()
        self.frames: list[Frame] = []       # everything written, in order
        self.seen = 0                       # frames already returned by take()
        self.events: list[SessionEvent] = []
        self.closed: Close | None = None

    def _wake(self) -> None:
        self.woken += 1

    # -------------------------------------------------------------- input

    def feed(self, data: bytes, now: float = 0.0, step: int = 0) -> None:
        """Bytes in (all at once, or `step` bytes at a time), then collect."""
        if step:
            for i in range(0, len(data), step):
                self.session.receive_data(data[i:i + step], now)
                self.collect()
        else:
            self.session.receive_data(data, now)
            self.collect()

    def send(self, command: str, headers: dict[str, str] | None = None, body: bytes = b"",
             *, step: int = 0) -> None:
        self.feed(frame_bytes(command, headers, body, self.session.version), step=step)

    def collect(self) -> None:
        """Take the session's events and output (what the broker does after each call)."""
        for event in self.session.events():
            self.events.append(event)
            if isinstance(event, Close):
                self.closed = event
        data = b"".join(chunk for chunk, _ in self.session.data_to_send())
        if data:
            self.frames.extend(self.parser.feed(data))
            assert self.parser.error is None, self.parser.error

    # ------------------------------------------------------------- output

    def take(self) -> list[Frame]:
        """The frames written since the last take()."""
        self.collect()
        new = self.frames[self.seen:]
        self.seen = len(self.frames)
        return new

    def take_events(self, kind: type | None = None) -> list[Any]:
        self.collect()
        events, self.events = self.events, []
        return [e for e in events if kind is None or isinstance(e, kind)]

    def sends(self) -> list[BeginSend]:
        return self.take_events(BeginSend)

    # ------------------------------------------------------------ answers

    def connect(self, principal: Principal = ALICE, **headers: str) -> Frame:
        self.send("CONNECT", {"accept-version": "1.2", "host": "h", "login": principal.username,
                              **headers})
        [auth] = self.take_events(Authenticate)
        assert auth.headers["login"] == principal.username
        assert self.session.authenticated(principal)
        self.collect()
        [connected] = self.take()
        assert connected.command is Command.CONNECTED, connected
        if self.session.version != "1.2":
            self.parser.version = self.session.version
        return connected

    def settle(self, event: BeginSend, outcome: Any) -> None:
        self.session.send_settled(event.token, outcome)
        self.collect()

    def stored(self, event: BeginSend, message_id: int) -> None:
        self.settle(event, {"message-id": str(message_id), "seq": str(message_id)})


def pauses(events: list[Any]) -> list[str]:
    return ["pause" if isinstance(e, PauseReading) else "resume" for e in events
            if isinstance(e, PauseReading | ResumeReading)]


def subscribe_events(peer: Peer) -> list[AuthorizeSubscribe]:
    return peer.take_events(AuthorizeSubscribe)
