"""The STOMP engine: sans-I/O sessions, routing, destinations, transports.

Public API (see each module): `Broker`, the sans-I/O `Session` and its events
(stompim.broker.events), the auth contract (`Principal`, `Authenticator`,
`AuthenticationFailed`, `StaticAuthenticator`, `AnonymousAuthenticator`), the
destination plug-in contract (`DestinationHandler`), the cluster seam (`Bridge`,
`BridgeSink`, `LocalBridge`), and the session listener contract
(`SessionListener`, see `Broker.add_session_listener`).

Modules, bottom to top (each imports only modules listed before it, so there is no
cycle; checked by tests/broker/test_module_order.py): errors, values, memory, fills, auth,
states, message, destinations, router, exchange, context, records, events, link, core, send,
send_fastpath, transactions, subscribe, connect, session, listeners, publisher, budget,
connection, tcp, ws_fastpath, websocket, sockjs, http_ws, http_sockjs, http_endpoints, broker,
metrics.
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
from .session import Session

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
    "Session",
    "SessionListener",
    "StaticAuthenticator",
    "Stats",
]
