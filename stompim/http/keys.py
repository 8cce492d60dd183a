"""Typed keys for what the HTTP app and its requests carry (aiohttp AppKey/RequestKey).

The endpoint registry's key, `API`, lives beside its type in stompim/http/api.py."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from stompim.im.services import ImServices
from stompim.im.tokens import TokenClaims
from stompim.metrics import NodeRegistry

SERVICES = web.AppKey("stompim.services", ImServices)
"""The IM services every handler calls: `request.app[SERVICES].accounts`."""

METRICS = web.AppKey("stompim.metrics", NodeRegistry)
"""What /metrics renders: the process-wide families and the node's collectors."""

WS_PORT: web.AppKey[Callable[[], int]] = web.AppKey("stompim.ws_port")
"""The port the STOMP WebSocket listener bound (set by the node; /api/client-config)."""

__all__ = ["CLAIMS", "METRICS", "SERVICES", "WS_PORT"]

CLAIMS = web.RequestKey("stompim.claims", TokenClaims)
"""Set by the auth middleware on every non-public route: who is calling."""
