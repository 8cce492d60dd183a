"""CONNECT and DISCONNECT: version and heart-beat negotiation, authentication, leaving.

CONNECT (or STOMP) in AWAITING_CONNECT negotiates the version and the heart-beats,
moves to AUTHENTICATING and asks the broker to check the credentials (`Authenticate`
event); frames that follow wait, and the transport is not read meanwhile.  The broker
answers with `authenticated` (CONNECTED goes out, the waiting frames run) or
`connect_refused` (ERROR and close).

DISCONNECT (spec "DISCONNECT") promises the client that every earlier frame was
handled once its RECEIPT arrives: the session aborts its open transactions (their
held chat SENDs are answered "aborted"), stops reading and delivering, waits for the
answers still owed (SENDs being stored), then sends the RECEIPT and closes.
"""

from __future__ import annotations

from typing import Any

from stompim.frames import SUPPORTED_VERSIONS, V1_0, Command, Frame

from .auth import Principal
from .core import OWN_ANSWER, SessionCore
from .errors import FrameRefused
from .events import Authenticate, PauseReading, ResumeReading
from .records import Finale, first_wins
from .states import State, Trigger
from .transactions import abort_all

__all__ = [
    "authenticated",
    "connect_refused",
    "negotiate_heartbeat",
    "negotiate_version",
    "on_connect",
    "on_disconnect",
]


def negotiate_version(accept_version: str | None) -> str | None:
    """Highest common version (spec "Protocol Negotiation"); absent header = 1.0."""
    if accept_version is None:
        return V1_0
    offered = {v.strip() for v in accept_version.split(",")}
    for version in reversed(SUPPORTED_VERSIONS):
        if version in offered:
            return version
    return None


def negotiate_heartbeat(header: str | None, send_ms: int, recv_ms: int) -> tuple[int, int]:
    """(server->client ms, client->server ms) per spec "Heart-beating"; 0 = none.

    The client says "cx,cy": it can send every cx ms and wants to receive every cy.
    """
    if header is None:
        return 0, 0
    try:
        cx_text, cy_text = header.split(",")
        cx, cy = int(cx_text), int(cy_text)
    except ValueError:
        raise FrameRefused(f"invalid heart-beat header {header!r}") from None
    if cx < 0 or cy < 0:
        raise FrameRefused(f"invalid heart-beat header {header!r}")
    outgoing = 0 if send_ms == 0 or cy == 0 else max(send_ms, cy)
    incoming = 0 if recv_ms == 0 or cx == 0 else max(recv_ms, cx)
    return outgoing, incoming


def on_connect(session: SessionCore, frame: Frame) -> Any:
    version = negotiate_version(frame.get("accept-version"))
    if version is None:
        raise FrameRefused(
            "unsupported STOMP version",
            f"supported versions are {','.join(SUPPORTED_VERSIONS)}",
            {"version": ",".join(SUPPORTED_VERSIONS)},
        )
    config = session.ctx.config
    if version == V1_0:
        beats = (0, 0)
    else:
        beats = negotiate_heartbeat(
            frame.get("heart-beat"), config.heartbeat_send_ms, config.heartbeat_receive_ms
        )
    session.transition(Trigger.CONNECT)
    session.connecting = (frame, version, beats)
    session.emit_event(PauseReading())   # at most what was read already waits
    session.emit_event(Authenticate(first_wins(frame), session.handshake_token))
    return OWN_ANSWER


def authenticated(session: SessionCore, principal: Principal) -> bool:
    """The credentials are good (and the per-user limit held): CONNECTED goes out and
    the frames that waited run.  False if the session is no longer authenticating."""
    if session.state is not State.AUTHENTICATING or session.connecting is None:
        return False
    _, version, beats = session.connecting
    session.connecting = None
    session.principal = principal
    session.version = version
    session.parser.version = version
    session.hb_send = beats[0] / 1000.0
    session.hb_recv = beats[1] / 1000.0
    session.transition(Trigger.AUTHENTICATED)
    config = session.ctx.config
    session.ctx.stats.connected_out += 1
    session.send_frame(
        Frame(
            Command.CONNECTED,
            (
                ("version", version),
                ("heart-beat", session.ctx.heart_beat),
                ("server", config.server_name),
                ("session", session.id),
                ("user-name", principal.username),
            ),
        )
    )
    session.emit_event(ResumeReading())
    session.run_backlog()
    return True


def connect_refused(session: SessionCore, message: str) -> None:
    """The credentials were refused (or could not be checked): ERROR and close."""
    if session.state is not State.AUTHENTICATING or session.connecting is None:
        return
    frame = session.connecting[0]
    session.connecting = None
    session.fail(message, frame.get("receipt"))


def on_disconnect(session: SessionCore, frame: Frame) -> Any:
    abort_all(session)
    session.begin_drain(Trigger.DISCONNECT, Finale(receipt=frame.get("receipt")))
    return OWN_ANSWER
