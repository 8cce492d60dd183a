"""The `Result` envelope of every REST response: {code, message, data, timestamp}.

code 200 with message "success" means success; any other code is an error code
from stompim.im.errors with a fitting HTTP status. Serialized with orjson
(non-string dict keys allowed: `{1: true}` becomes `{"1": true}`).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from stompim.metrics import HTTP_ERRORS

SUCCESS = 200
_OPTIONS = orjson.OPT_NON_STR_KEYS


def envelope(code: int, message: str, data: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "data": data, "timestamp": int(time.time() * 1000)}


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload, option=_OPTIONS),
        status=status,
        content_type="application/json",
    )


def ok(data: Any = None) -> web.Response:
    """HTTP 200 with {"code": 200, "message": "success", "data": data}."""
    return json_response(envelope(SUCCESS, "success", data))


def error(code: int, message: str, status: int) -> web.Response:
    """An error Result (counted in /metrics: stompim_http_errors_total by code)."""
    HTTP_ERRORS.labels(str(code)).inc()
    return json_response(envelope(code, message, None), status=status)
