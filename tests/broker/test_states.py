"""The session state table, checked as a table and against a real Session: every state
times every command (a valid frame of it), and every trigger the session can meet."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stompim.broker.errors import AuthenticationFailed
from stompim.broker.events import Authenticate
from stompim.broker.session import SHUTDOWN_MESSAGE
from stompim.broker.states import (
    ALLOWED,
    CLIENT_COMMANDS,
    INPUT,
    TRANSITIONS,
    Input,
    State,
    Trigger,
    next_state,
)
from stompim.frames import Command

from .sessionkit import ALICE, Peer, World, frame_bytes

CHAT = "/topic/chat/1"

# A valid frame of each command (valid in CONNECTED, where most of them are allowed).
FRAMES: dict[Command, dict[str, str]] = {
    Command.CONNECT: {"accept-version": "1.2", "login": "alice"},
    Command.STOMP: {"accept-version": "1.2", "login": "alice"},
    Command.SEND: {"destination": "/topic/t"},
    Command.SUBSCRIBE: {"destination": "/topic/t", "id": "new"},
    Command.UNSUBSCRIBE: {"id": "old"},
    Command.ACK: {"id": "1"},
    Command.NACK: {"id": "1"},
    Command.BEGIN: {"transaction": "new"},
    Command.COMMIT: {"transaction": "open"},
    Command.ABORT: {"transaction": "open"},
    Command.DISCONNECT: {},
    Command.MESSAGE: {"destination": "/topic/t", "message-id": "1", "subscription": "1"},
    Command.RECEIPT: {"receipt-id": "1"},
    Command.ERROR: {"message": "x"},
    Command.CONNECTED: {"version": "1.2"},
}


def in_state(state: State) -> Peer:
    """A session brought to `state` the way a client and the broker would."""
    world = World()
    peer = world.peer()
    if state is State.AWAITING_CONNECT:
        return peer
    peer.send("CONNECT", {"accept-version": "1.2", "login": "alice"})
    if state is State.AUTHENTICATING:
        return peer
    assert peer.session.authenticated(ALICE)
    peer.send("SUBSCRIBE", {"destination": "/topic/t", "id": "old", "ack": "client-individual"})
    peer.send("BEGIN", {"transaction": "open"})
    world.exchange.publish(world.rules.kind_of("/topic/t"), "/topic/t", (), b"m", forward=False)
    if state is State.CONNECTED:
        peer.take()
        return peer
    if state is State.DRAINING:
        peer.send("SEND", {"destination": CHAT}, b"in flight")
        peer.send("DISCONNECT", {"receipt": "bye"})
    elif state is State.CLOSING:
        peer.session.kick("kicked")
    else:
        peer.session.connection_lost()
    peer.take()
    peer.take_events()
    assert peer.session.state is state
    return peer


def test_the_table_names_every_state_and_no_server_command() -> None:
    assert set(ALLOWED) == set(State) == set(INPUT)
    assert ALLOWED[State.AWAITING_CONNECT] == {Command.CONNECT, Command.STOMP}
    assert ALLOWED[State.CONNECTED] == CLIENT_COMMANDS
    for state, allowed in ALLOWED.items():
        assert not allowed & {Command.MESSAGE, Command.RECEIPT, Command.ERROR, Command.CONNECTED}
        assert allowed == frozenset() or INPUT[state] is Input.READ
    for (state, trigger), target in TRANSITIONS.items():
        assert isinstance(state, State) and isinstance(trigger, Trigger)
        assert isinstance(target, State)
    for state in State:
        assert next_state(state, Trigger.LOST) is State.CLOSED
        assert next_state(state, Trigger.FAIL) in (State.CLOSING, State.CLOSED)
    assert next_state(State.AUTHENTICATING, Trigger.AUTHENTICATED) is State.CONNECTED
    with pytest.raises(KeyError):
        next_state(State.CLOSED, Trigger.CONNECT)


@pytest.mark.parametrize("state", list(State))
def test_states_are_reachable(state: State) -> None:
    assert in_state(state).session.state is state


REFUSALS = ("expected CONNECT", "already connected", "unexpected command")


@pytest.mark.parametrize("command", list(Command))
@pytest.mark.parametrize("state", list(State))
def test_every_command_in_every_state(state: State, command: Command) -> None:
    peer = in_state(state)
    headers = {**FRAMES[command], "receipt": "r"}
    peer.feed(frame_bytes(command.value, headers))
    frames = peer.take()
    errors = [f for f in frames if f.command is Command.ERROR]
    mode = INPUT[state]
    if mode is Input.IGNORE:
        assert frames == [] and peer.session.state is state
    elif mode is Input.HOLD:
        assert frames == [] and peer.session.backlog and peer.session.state is state
    elif command in ALLOWED[state]:
        assert not any(e.get("message", "").startswith(REFUSALS) for e in errors), errors
        if command in (Command.CONNECT, Command.STOMP):
            assert any(isinstance(e, Authenticate) for e in peer.take_events())
        elif command is not Command.ACK and command is not Command.NACK:
            assert errors == [], errors      # ACK id "1" may be stale; the rest succeed
    else:
        [error] = errors
        assert error.get("message", "").startswith(REFUSALS)
        assert error.get("receipt-id") == "r" and peer.session.state is State.CLOSING


ENDINGS: dict[str, Callable[[Peer], None]] = {
    "lost": lambda p: p.session.connection_lost(),
    "kick": lambda p: p.session.kick("logged out"),
    "shutdown": lambda p: p.session.shutdown(),
    "refused": lambda p: p.session.connect_refused(AuthenticationFailed().message),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
@pytest.mark.parametrize("state", list(State))
def test_every_ending_in_every_state_follows_the_table(state: State, ending: str) -> None:
    peer = in_state(state)
    ENDINGS[ending](peer)
    frames = peer.take()
    after = peer.session.state
    if ending == "lost":
        assert after is State.CLOSED and frames == []
    elif state in (State.CLOSING, State.CLOSED):
        assert after is state and frames == []     # nothing more once closing
    elif ending == "refused" and state is not State.AUTHENTICATING:
        assert after is state and frames == []     # only an authenticating session hears it
    elif ending == "shutdown" and state is State.DRAINING:
        assert after is state and frames == []     # already draining: it ends as it would
    else:
        assert after is State.CLOSING
        [last] = frames[-1:]
        assert last.command is Command.ERROR
        if ending == "shutdown":
            assert last.get("message") == SHUTDOWN_MESSAGE
