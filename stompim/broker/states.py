"""The STOMP session state machine, as data.

Theory of operation
-------------------
A session starts in AWAITING_CONNECT.  CONNECT (or STOMP) moves it to
AUTHENTICATING while the Authenticator runs; frames that arrive meanwhile wait in
the session's backlog (they are not read by this table).  Success makes it
CONNECTED, where every client command of the spec is allowed.  DISCONNECT, an
ERROR we send, a timeout or a lost transport end in CLOSING (output may still be
flushed, input is ignored) and then CLOSED.

`ALLOWED[state]` is the set of client commands a state accepts; anything else in
that state is a protocol error (ERROR + close).  `TRANSITIONS[(state, event)]`
gives the next state; a pair that is missing is a bug in the session, so
`next_state` raises KeyError rather than guessing.
"""

from __future__ import annotations

import enum

from stompim.frames import Command

__all__ = ["ALLOWED", "TRANSITIONS", "Event", "State", "next_state"]


class State(enum.Enum):
    AWAITING_CONNECT = "awaiting-connect"
    """Transport open, no CONNECT yet; closed after `connect_timeout_ms`."""
    AUTHENTICATING = "authenticating"
    """CONNECT received, the Authenticator is running."""
    CONNECTED = "connected"
    """CONNECTED sent; the session may subscribe, send, ack."""
    CLOSING = "closing"
    """RECEIPT of DISCONNECT or ERROR queued; input is ignored, output flushed."""
    CLOSED = "closed"
    """Transport gone; subscriptions released."""


class Event(enum.Enum):
    CONNECT = "connect"
    """A CONNECT or STOMP frame arrived in AWAITING_CONNECT."""
    AUTHENTICATED = "authenticated"
    """The Authenticator accepted the credentials (and the per-user limit held)."""
    DISCONNECT = "disconnect"
    """The client sent DISCONNECT."""
    FAIL = "fail"
    """We sent ERROR (protocol error, refused login, kicked) or timed out."""
    LOST = "lost"
    """The transport closed (by either side)."""


_CLIENT_COMMANDS = frozenset(
    {
        Command.SEND,
        Command.SUBSCRIBE,
        Command.UNSUBSCRIBE,
        Command.ACK,
        Command.NACK,
        Command.BEGIN,
        Command.COMMIT,
        Command.ABORT,
        Command.DISCONNECT,
    }
)

ALLOWED: dict[State, frozenset[Command]] = {
    State.AWAITING_CONNECT: frozenset({Command.CONNECT, Command.STOMP}),
    State.AUTHENTICATING: frozenset(),
    State.CONNECTED: _CLIENT_COMMANDS,
    State.CLOSING: frozenset(),
    State.CLOSED: frozenset(),
}

TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.AWAITING_CONNECT, Event.CONNECT): State.AUTHENTICATING,
    (State.AWAITING_CONNECT, Event.FAIL): State.CLOSING,
    (State.AWAITING_CONNECT, Event.LOST): State.CLOSED,
    (State.AUTHENTICATING, Event.AUTHENTICATED): State.CONNECTED,
    (State.AUTHENTICATING, Event.FAIL): State.CLOSING,
    (State.AUTHENTICATING, Event.LOST): State.CLOSED,
    (State.CONNECTED, Event.DISCONNECT): State.CLOSING,
    (State.CONNECTED, Event.FAIL): State.CLOSING,
    (State.CONNECTED, Event.LOST): State.CLOSED,
    (State.CLOSING, Event.FAIL): State.CLOSING,
    (State.CLOSING, Event.DISCONNECT): State.CLOSING,
    (State.CLOSING, Event.LOST): State.CLOSED,
    (State.CLOSED, Event.LOST): State.CLOSED,
    (State.CLOSED, Event.FAIL): State.CLOSED,
}


def next_state(state: State, event: Event) -> State:
    """The state after `event`; KeyError for a pair the table does not allow."""
    return TRANSITIONS[(state, event)]
