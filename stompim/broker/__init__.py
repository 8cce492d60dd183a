"""The STOMP engine: sessions, routing, destinations, transports.

Public API (see each module): `Broker`, the auth contract (`Principal`,
`Authenticator`, `AuthenticationFailed`, `StaticAuthenticator`,
`AnonymousAuthenticator`), the destination plug-in contract
(`DestinationHandler`), and the cluster seam (`Bridge`, `BridgeSink`,
`LocalBridge`), and the session listener contract (`SessionListener`, see
`Broker.add_session_listener`).
"""

from __future__ import annotations

from .auth import (
    AnonymousAuthenticator,
    AuthenticationFailed,
    Authenticator,
    Principal,
    StaticAuthenticator,
)
from .broker import Broker, Stats
from .destinations import DestinationHandler, DestinationRefused, Kind, Route
from .listeners import SessionListener
from .publisher import Bridge, BridgeSink, BrokerPublisher, LocalBridge
from .router import AckMode

__all__ = [
    "AckMode",
    "AnonymousAuthenticator",
    "AuthenticationFailed",
    "Authenticator",
    "Bridge",
    "BridgeSink",
    "Broker",
    "BrokerPublisher",
    "DestinationHandler",
    "DestinationRefused",
    "Kind",
    "LocalBridge",
    "Principal",
    "Route",
    "SessionListener",
    "StaticAuthenticator",
    "Stats",
]
