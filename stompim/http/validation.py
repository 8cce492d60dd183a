"""Request parsing helpers. Every refusal is ImError(BAD_REQUEST 9001) naming the field.

Call order in a handler: `body = await json_body(request)`, then the field
helpers on `body` (`require_str(body, "username")`, `optional_int(...)`), or the
query/path helpers on the request.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from stompim.im.errors import BAD_REQUEST, ImError

_MISSING = object()


def bad(message: str) -> ImError:
    return ImError(BAD_REQUEST, message)


async def json_body(request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object. Oversize bodies raise aiohttp's 413 (mapped
    to 9006 by the error middleware); malformed JSON or a non-object -> 9001."""
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return {}
        raise bad("request body: a JSON object is required")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad("request body: malformed JSON") from None
    if not isinstance(data, dict):
        raise bad("request body: must be a JSON object")
    return data


def _get(body: dict[str, Any], name: str) -> Any:
    value = body.get(name, _MISSING)
    return _MISSING if value is None else value


def require_str(body: dict[str, Any], name: str, *, max_len: int | None = None) -> str:
    value = _get(body, name)
    if value is _MISSING or value == "":
        raise bad(f"{name}: is required")
    return _str(value, name, max_len)


def optional_str(body: dict[str, Any], name: str, *, max_len: int | None = None) -> str | None:
    value = _get(body, name)
    return None if value is _MISSING else _str(value, name, max_len)


def _str(value: Any, name: str, max_len: int | None) -> str:
    if not isinstance(value, str):
        raise bad(f"{name}: must be a string")
    if max_len is not None and len(value) > max_len:
        raise bad(f"{name}: must be at most {max_len} characters")
    return value


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{name}: must be an integer")
    return value


def require_int(body: dict[str, Any], name: str) -> int:
    value = _get(body, name)
    if value is _MISSING:
        raise bad(f"{name}: is required")
    return _int(value, name)


def optional_int(body: dict[str, Any], name: str) -> int | None:
    value = _get(body, name)
    return None if value is _MISSING else _int(value, name)


def require_bool(body: dict[str, Any], name: str) -> bool:
    value = _get(body, name)
    if value is _MISSING:
        raise bad(f"{name}: is required")
    if not isinstance(value, bool):
        raise bad(f"{name}: must be true or false")
    return value


def int_list(body: dict[str, Any], name: str, *, max_items: int = 500) -> list[int]:
    value = _get(body, name)
    if value is _MISSING:
        raise bad(f"{name}: is required")
    if not isinstance(value, list) or len(value) > max_items:
        raise bad(f"{name}: must be a list of at most {max_items} integers")
    return [_int(v, name) for v in value]


def _parse_int(text: str, name: str) -> int:
    text = text.strip()
    if not text or len(text) > 19 or not text.lstrip("-").isdigit():
        raise bad(f"{name}: must be an integer")
    return int(text)


def path_id(request: web.Request, name: str) -> int:
    """A positive integer path parameter (`/api/user/info/{userId}`)."""
    value = _parse_int(request.match_info[name], name)
    if value <= 0:
        raise bad(f"{name}: must be a positive integer")
    return value


def query_str(request: web.Request, name: str, *, required: bool = False) -> str | None:
    value = request.query.get(name)
    if value is None and required:
        raise bad(f"{name}: query parameter is required")
    return value


def query_int(
    request: web.Request,
    name: str,
    default: int | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    value = _parse_int(raw, name)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise bad(f"{name}: must be between {minimum} and {maximum}")
    return value


def query_id_list(request: web.Request, name: str, *, max_items: int = 200) -> list[int]:
    """`?ids=1,2,3` (repeated `?ids=1&ids=2` also accepted) -> [1, 2, 3]."""
    parts = [p for raw in request.query.getall(name, []) for p in raw.split(",") if p.strip()]
    if len(parts) > max_items:
        raise bad(f"{name}: at most {max_items} ids")
    ids = [_parse_int(p, name) for p in parts]
    if any(i <= 0 for i in ids):
        raise bad(f"{name}: ids must be positive integers")
    return ids
