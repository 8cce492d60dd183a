"""The REST API (aiohttp): `create_http_app(services)`; see app.py, api.py and routes/."""

from __future__ import annotations

from stompim.http.api import API, ApiRegistry, ApiRoutes, Endpoint
from stompim.http.app import create_http_app
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.result import error, ok

__all__ = [
    "API",
    "CLAIMS",
    "SERVICES",
    "ApiRegistry",
    "ApiRoutes",
    "Endpoint",
    "create_http_app",
    "error",
    "ok",
]
