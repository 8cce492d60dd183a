"""The STOMP session state machine, as data.

Theory of operation
-------------------
A session starts in AWAITING_CONNECT.  CONNECT (or STOMP) moves it to AUTHENTICATING
while the broker runs the Authenticator; frames that arrive meanwhile wait in the
session's backlog (`INPUT` says HOLD).  Success makes it CONNECTED, where every client
command of the spec is allowed.

Leaving CONNECTED takes one of two roads:

* orderly: DISCONNECT from the client, or the server shutting down, moves it to
  DRAINING.  No frame is read any more, but the answers still owed (receipts of SENDs
  being stored, of a SUBSCRIBE being replayed) go out in frame order; once none is
  owed (SETTLED) the session sends its last frame (the DISCONNECT's RECEIPT, or ERROR
  "server shutting down") and goes to CLOSING.  Draining is bounded in time.
* abrupt: an ERROR we send (protocol violation, refused login, kicked, timeout, a
  drain that took too long) goes straight to CLOSING; the sends in flight are
  withdrawn, their answers never come.

In CLOSING output may still be flushed and input is ignored; CLOSED means the
transport is gone.

While CONNECTED, frames may also wait for a reason of the session's own, its `Hold`
(one at a time: a held session reads no frame, so it cannot take on a second one).

`INPUT[state]` says what happens to frames in a state; `ALLOWED[state]` is the set of
client commands a READ state accepts (anything else is a protocol error: ERROR and
close).  `TRANSITIONS[(state, trigger)]` gives the next state; a pair that is missing is
a bug in the session, so `next_state` raises KeyError rather than guessing.
"""

from __future__ import annotations

import enum

from stompim.frames import Command

__all__ = [
    "ALLOWED",
    "CLIENT_COMMANDS",
    "INPUT",
    "TRANSITIONS",
    "Hold",
    "Input",
    "State",
    "Trigger",
    "next_state",
]


class State(enum.Enum):
    AWAITING_CONNECT = "awaiting-connect"
    """Transport open, no CONNECT yet; closed after `connect_timeout_ms`."""
    AUTHENTICATING = "authenticating"
    """CONNECT received, the Authenticator is running."""
    CONNECTED = "connected"
    """CONNECTED sent; the session may subscribe, send, ack."""
    DRAINING = "draining"
    """DISCONNECT received or server shutting down: no input, owed answers still go out."""
    CLOSING = "closing"
    """The last frame (RECEIPT of DISCONNECT, or ERROR) is queued; input is ignored."""
    CLOSED = "closed"
    """Transport gone; subscriptions released."""


class Trigger(enum.Enum):
    CONNECT = "connect"
    """A CONNECT or STOMP frame arrived in AWAITING_CONNECT."""
    AUTHENTICATED = "authenticated"
    """The Authenticator accepted the credentials (and the per-user limit held)."""
    DISCONNECT = "disconnect"
    """The client sent DISCONNECT."""
    SHUTDOWN = "shutdown"
    """The server is shutting down gracefully."""
    SETTLED = "settled"
    """A draining session owes no more answers."""
    FAIL = "fail"
    """We sent ERROR (protocol error, refused login, kicked, timed out) or dropped a slow
    consumer."""
    LOST = "lost"
    """The transport closed (by either side)."""


class Input(enum.Enum):
    READ = "read"
    """Frames are dispatched as they arrive (if ALLOWED)."""
    HOLD = "hold"
    """Frames wait in the backlog, in order, until the state changes."""
    IGNORE = "ignore"
    """Bytes are dropped unread."""


class Hold(enum.Enum):
    """Why a CONNECTED session's frames wait (reading from the transport is paused)."""

    SUBSCRIBE = "subscribe"
    """A SUBSCRIBE to a handled destination is being authorized (and replayed)."""
    SENDS = "sends"
    """`MAX_SENDS_IN_FLIGHT` SENDs await storage; the next waits for room."""
    THROTTLE = "throttle"
    """The last SEND reached a congested consumer; a short, bounded pause."""


CLIENT_COMMANDS = frozenset(
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

INPUT: dict[State, Input] = {
    State.AWAITING_CONNECT: Input.READ,
    State.AUTHENTICATING: Input.HOLD,
    State.CONNECTED: Input.READ,
    State.DRAINING: Input.IGNORE,
    State.CLOSING: Input.IGNORE,
    State.CLOSED: Input.IGNORE,
}

ALLOWED: dict[State, frozenset[Command]] = {
    State.AWAITING_CONNECT: frozenset({Command.CONNECT, Command.STOMP}),
    State.AUTHENTICATING: frozenset(),
    State.CONNECTED: CLIENT_COMMANDS,
    State.DRAINING: frozenset(),
    State.CLOSING: frozenset(),
    State.CLOSED: frozenset(),
}

TRANSITIONS: dict[tuple[State, Trigger], State] = {
    (State.AWAITING_CONNECT, Trigger.CONNECT): State.AUTHENTICATING,
    (State.AWAITING_CONNECT, Trigger.FAIL): State.CLOSING,
    (State.AWAITING_CONNECT, Trigger.LOST): State.CLOSED,
    (State.AUTHENTICATING, Trigger.AUTHENTICATED): State.CONNECTED,
    (State.AUTHENTICATING, Trigger.FAIL): State.CLOSING,
    (State.AUTHENTICATING, Trigger.LOST): State.CLOSED,
    (State.CONNECTED, Trigger.DISCONNECT): State.DRAINING,
    (State.CONNECTED, Trigger.SHUTDOWN): State.DRAINING,
    (State.CONNECTED, Trigger.FAIL): State.CLOSING,
    (State.CONNECTED, Trigger.LOST): State.CLOSED,
    (State.DRAINING, Trigger.SETTLED): State.CLOSING,
    (State.DRAINING, Trigger.SHUTDOWN): State.DRAINING,
    (State.DRAINING, Trigger.FAIL): State.CLOSING,
    (State.DRAINING, Trigger.LOST): State.CLOSED,
    (State.CLOSING, Trigger.FAIL): State.CLOSING,
    (State.CLOSING, Trigger.SHUTDOWN): State.CLOSING,
    (State.CLOSING, Trigger.LOST): State.CLOSED,
    (State.CLOSED, Trigger.LOST): State.CLOSED,
    (State.CLOSED, Trigger.FAIL): State.CLOSED,
    (State.CLOSED, Trigger.SHUTDOWN): State.CLOSED,
}


def next_state(state: State, trigger: Trigger) -> State:
    """The state after `trigger`; KeyError for a pair the table does not allow."""
    return TRANSITIONS[(state, trigger)]
