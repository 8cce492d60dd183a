"""STOMP commands and protocol versions (STOMP 1.2 spec, "Frames and Headers")."""

from __future__ import annotations

import enum

__all__ = [
    "SUPPORTED_VERSIONS",
    "UNESCAPED_COMMANDS",
    "V1_0",
    "V1_1",
    "V1_2",
    "Command",
]

V1_0 = "1.0"
V1_1 = "1.1"
V1_2 = "1.2"
SUPPORTED_VERSIONS: tuple[str, ...] = (V1_0, V1_1, V1_2)


class Command(enum.StrEnum):
    """A STOMP command; the value is the exact wire name."""

    #: client opens a session (all versions)
    CONNECT = "CONNECT"
    #: client opens a session, 1.1+ synonym of CONNECT
    STOMP = "STOMP"
    #: server accepts the session
    CONNECTED = "CONNECTED"
    #: client publishes to a destination
    SEND = "SEND"
    #: client registers interest in a destination
    SUBSCRIBE = "SUBSCRIBE"
    #: client cancels a subscription
    UNSUBSCRIBE = "UNSUBSCRIBE"
    #: client acknowledges a message
    ACK = "ACK"
    #: client rejects a message (1.1+)
    NACK = "NACK"
    #: client starts a transaction
    BEGIN = "BEGIN"
    #: client commits a transaction
    COMMIT = "COMMIT"
    #: client rolls back a transaction
    ABORT = "ABORT"
    #: client closes the session
    DISCONNECT = "DISCONNECT"
    #: server delivers a message to a subscriber
    MESSAGE = "MESSAGE"
    #: server confirms a frame that carried ``receipt``
    RECEIPT = "RECEIPT"
    #: server reports a failure (then closes)
    ERROR = "ERROR"

    def __str__(self) -> str:
        return self.value


#: Commands whose headers are never escaped (spec 1.2 "Value Encoding": CONNECT and
#: CONNECTED; STOMP is CONNECT's synonym, so it is treated the same way).
UNESCAPED_COMMANDS: frozenset[Command] = frozenset(
    {Command.CONNECT, Command.STOMP, Command.CONNECTED}
)
