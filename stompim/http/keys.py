"""Typed keys for what the HTTP app and its requests carry (aiohttp AppKey/RequestKey)."""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import API
from stompim.im.services import ImServices
from stompim.im.tokens import TokenClaims

SERVICES = web.AppKey("stompim.services", ImServices)
"""The IM services every handler calls: `request.app[SERVICES].accounts`."""

__all__ = ["API", "CLAIMS", "SERVICES"]

CLAIMS = web.RequestKey("stompim.claims", TokenClaims)
"""Set by the auth middleware on every non-public route: who is calling."""
