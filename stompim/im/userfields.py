"""Validation rules for account fields, shared by registration and profile updates.

Each `check_*` returns the accepted value unchanged (text round-trips
verbatim: nothing is trimmed or escaped here — SQL is always parameterised) or
raises ImError(BAD_REQUEST 9001) naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from stompim.im.errors import BAD_REQUEST, ImError

USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,31}")
PHONE_RE = re.compile(r"\+?[0-9]{6,20}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
SMS_CODE_RE = re.compile(r"[0-9]{6}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

PHONE_MAX = 20  # users.phone is VARCHAR(20)
NICKNAME_MAX = 64
AVATAR_MAX = 512
SIGNATURE_MAX = 255
EMAIL_MAX = 128
REGION_MAX = 64
GENDERS = (0, 1, 2)  # unknown, male, female

PROFILE_FIELDS = ("nickname", "avatar", "signature", "gender", "email", "region")


def bad(field: str, message: str) -> ImError:
    return ImError(BAD_REQUEST, f"{field}: {message}")


def _text(value: Any, field: str, max_len: int, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise bad(field, "must be a string")
    if len(value) > max_len:
        raise bad(field, f"must be at most {max_len} characters")
    if not allow_empty and not value.strip():
        raise bad(field, "must not be empty")
    if _CONTROL.search(value):
        raise bad(field, "must not contain control characters")
    return value


def check_username(value: Any) -> str:
    if not isinstance(value, str) or not USERNAME_RE.fullmatch(value):
        raise bad(
            "username",
            "3-32 characters of letters, digits and _, starting with a letter",
        )
    return value


def check_phone(value: Any, field: str = "phone") -> str:
    if not isinstance(value, str) or len(value) > PHONE_MAX or not PHONE_RE.fullmatch(value):
        raise bad(field, "6-20 characters: digits, optionally starting with +")
    return value


def check_sms_code(value: Any) -> str:
    if not isinstance(value, str) or not SMS_CODE_RE.fullmatch(value):
        raise bad("smsCode", "must be 6 digits")
    return value


def check_nickname(value: Any) -> str:
    return _text(value, "nickname", NICKNAME_MAX, allow_empty=False)


def check_avatar(value: Any) -> str:
    text = _text(value, "avatar", AVATAR_MAX)
    if text == "":
        return text
    if any(c.isspace() for c in text):
        raise bad("avatar", "must be an http or https URL")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise bad("avatar", "must be an http or https URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise bad("avatar", "must be an http or https URL")
    return text


def check_signature(value: Any) -> str:
    return _text(value, "signature", SIGNATURE_MAX)


def check_gender(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in GENDERS:
        raise bad("gender", "must be 0 (unknown), 1 (male) or 2 (female)")
    return value


def check_email(value: Any) -> str:
    text = _text(value, "email", EMAIL_MAX)
    if text and not EMAIL_RE.fullmatch(text):
        raise bad("email", "is not an e-mail address")
    return text


def check_region(value: Any) -> str:
    return _text(value, "region", REGION_MAX)


_CHECKS = {
    "nickname": check_nickname,
    "avatar": check_avatar,
    "signature": check_signature,
    "gender": check_gender,
    "email": check_email,
    "region": check_region,
}


def check_profile_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a profile update; unknown fields are refused (9001) by name."""
    unknown = sorted(k for k in changes if k not in _CHECKS)
    if unknown:
        raise ImError(BAD_REQUEST, f"unknown or read-only field(s): {', '.join(unknown)}")
    return {k: _CHECKS[k](v) for k, v in changes.items()}
