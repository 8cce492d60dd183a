"""Reading a request into its declared models; every refusal is ImError 9001 naming the field.

Call order (stompim/http/api.py does it for each endpoint): `path_params`, `header_params`,
`query_params`, then `await json_body` — so a bad id in the path is reported before a bad
body.  A pydantic ValidationError never leaves this module: `refusal()` turns it into one
readable line such as `toUserId: must be an integer ≥ 1; message: must be a string`.

JSON bodies are decoded by pydantic's own parser (jiter), on the event loop.  Why not
in a thread: the decoder holds the GIL for the whole document, so a worker thread stalls
the loop just as long (bench/results/json_decode.md measures both).  What keeps it short
is the size: JSON bodies are capped by `http.max_json_bytes` (64 KiB by default, far
above the largest legitimate body, a 500-id member list of ~10 KB), whatever
`http.max_body_bytes` allows for uploads; the worst 64 KiB body decodes in under a
millisecond.  jiter also refuses invalid UTF-8, lone surrogates and nesting deeper than
its recursion limit, and reads 30-digit integers exactly (orjson would turn them into
floats), so the range checks of stompim/http/fields.py see what the client sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, ValidationError

from stompim.http.keys import SERVICES
from stompim.im.errors import BAD_REQUEST, PAYLOAD_TOO_LARGE, ImError

M = TypeVar("M", bound=BaseModel)

MAX_REPORTED_ERRORS = 3


async def json_body(request: web.Request, model: type[M]) -> M:
    """The body as `model`. An empty body reads as `{}` (so a model with no required
    field accepts it); anything else must be one JSON object."""
    limit = request.app[SERVICES].config.http.max_json_bytes
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    raw = await request.read()  # aiohttp enforces http.max_body_bytes while reading
    if len(raw) > limit:
        raise too_large(limit)
    if not raw.strip():
        raw = b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise refusal(exc, where="request body") from None


def too_large(limit: int) -> ImError:
    message = f"request body: a JSON body may be at most {limit} bytes"
    return ImError(PAYLOAD_TOO_LARGE, message, 413)


def path_params(request: web.Request, model: type[M]) -> M:
    return _validate(model, dict(request.match_info), "path")


def query_params(request: web.Request, model: type[M]) -> M:
    return _validate(model, _pick(request.query, model), "query")


def header_params(request: web.Request, model: type[M]) -> M:
    return _validate(model, _pick(request.headers, model), "headers")


def _pick(source: MultiMapping[str], model: type[BaseModel]) -> dict[str, Any]:
    """The declared parameters only: a repeated one as a list, others as their text."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        values = source.getall(key, [])
        if values:
            out[key] = values if len(values) > 1 else values[0]
    return out


def _validate(model: type[M], data: Mapping[str, Any], where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise refusal(exc, where=where) from None


# -- messages ---------------------------------------------------------------------------

_MESSAGES: dict[str, str] = {
    "missing": "is required",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
    "string_too_short": "must be at least {min_length} characters",
    "string_too_long": "must be at most {max_length} characters",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "string_pattern_mismatch": "has the wrong format",
    "recursion_loop": "is nested too deeply",
}


def refusal(exc: ValidationError, *, where: str) -> ImError:
    """One line for the client: up to MAX_REPORTED_ERRORS `field: message` parts."""
    parts: list[str] = []
    for err in exc.errors(include_url=False, include_input=False):
        part = _describe(err, where)
        if part not in parts:
            parts.append(part)
        if len(parts) == MAX_REPORTED_ERRORS:
            break
    return ImError(BAD_REQUEST, "; ".join(parts) or f"{where}: invalid")


def _describe(err: Mapping[str, Any], where: str) -> str:
    kind = str(err["type"])
    if kind == "json_invalid":
        return f"{where}: malformed JSON ({err.get('ctx', {}).get('error', 'unreadable')})"
    if kind == "json_type":
        return f"{where}: must be JSON"
    ctx = err.get("ctx") or {}
    if kind == "stompim":
        message = str(err["msg"])
    else:
        template = _MESSAGES.get(kind, "is invalid")
        try:
            message = template.format(**ctx)
        except (KeyError, IndexError, ValueError):
            message = "is invalid"
    return f"{_field(err['loc']) or where}: {message}"


def _field(loc: tuple[int | str, ...]) -> str:
    """('memberIds', 3) -> 'memberIds[3]';  ('extra', 'url') -> 'extra.url'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
