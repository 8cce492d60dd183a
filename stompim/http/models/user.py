"""Models of /api/user/*: accounts, login, profiles, SMS codes, presence."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from stompim.http.fields import Bounded, CommaSeparated, Flag, Id, Int64, Text
from stompim.http.models.base import Body, Path, Query, View
from stompim.http.paging import PageQuery
from stompim.im import passwords, userfields
from stompim.im.accounts import MAX_ONLINE_QUERY, SEARCH_LIMIT

PHONE_SCHEMA: dict[str, Any] = {
    "pattern": f"^{userfields.PHONE_RE.pattern}$",
    "maxLength": userfields.PHONE_MAX,
}

# -- requests --------------------------------------------------------------------------


class RegisterRequest(Body):
    username: Text = Field(
        description="3-32 letters, digits and _, starting with a letter",
        json_schema_extra={"pattern": f"^{userfields.USERNAME_RE.pattern}$"},
    )
    password: Text = Field(
        description="a letter and a digit",
        json_schema_extra={"minLength": passwords.MIN_LENGTH, "maxLength": passwords.MAX_LENGTH},
    )
    nickname: Text | None = Field(
        None, description="default: the username",
        json_schema_extra={"maxLength": userfields.NICKNAME_MAX},
    )
    phone: Text | None = Field(None, json_schema_extra=PHONE_SCHEMA)
    sms_code: Text | None = Field(
        None,
        description="needed with phone when sms.require_for_register is on; "
        "verified whenever given",
        json_schema_extra={"pattern": f"^{userfields.SMS_CODE_RE.pattern}$"},
    )


DeviceType = Literal["web", "ios", "android", "desktop"]


class LoginRequest(Body):
    username: Text | None = Field(None, description="username, or a phone number")
    phone: Text | None = None
    password: Text = Field(json_schema_extra={"minLength": 1})
    device_type: DeviceType | None = Field(
        None,
        description="the device logging in (default web); with auth.single_session = "
        "per_device_type a login ends the older sessions of the same type",
    )


class SessionIdPath(Path):
    id: Text = Field(
        description="a session id from GET /api/user/sessions",
        json_schema_extra={"minLength": 1, "maxLength": 64},
    )


class ProfileUpdate(Body):
    """A partial update: null or absent fields keep their value.  The whole User object
    may be sent back as it was read: its read-only fields are accepted when unchanged
    (a different value is refused, 9001) and the others (createdAt, ...) are ignored."""

    nickname: Text | None = Field(
        None, json_schema_extra={"minLength": 1, "maxLength": userfields.NICKNAME_MAX}
    )
    avatar: Text | None = Field(
        None, description="http(s) URL, or empty",
        json_schema_extra={"maxLength": userfields.AVATAR_MAX},
    )
    signature: Text | None = Field(
        None, json_schema_extra={"maxLength": userfields.SIGNATURE_MAX}
    )
    gender: Annotated[int, Bounded(0, 2)] | None = Field(
        None, description="0 unknown, 1 male, 2 female"
    )
    email: Text | None = Field(None, json_schema_extra={"maxLength": userfields.EMAIL_MAX})
    region: Text | None = Field(None, json_schema_extra={"maxLength": userfields.REGION_MAX})
    id: Id | None = Field(None, description="read-only: must be the caller's id")
    username: Text | None = Field(None, description="read-only: must be the caller's")
    phone: Text | None = Field(None, description="read-only here: must be unchanged")
    status: Int64 | None = Field(None, description="read-only: must be unchanged")
    password: Text | None = Field(
        None, description="refused when given: change it with PUT /api/user/password"
    )
    avatar_file_id: Id | None = Field(
        None, description="an image I uploaded with purpose avatar: avatar becomes its link"
    )


class PasswordChange(Body):
    old_password: Text = Field(json_schema_extra={"minLength": 1})
    new_password: Text = Field(
        json_schema_extra={"minLength": passwords.MIN_LENGTH, "maxLength": passwords.MAX_LENGTH}
    )


class SmsCodeRequest(Body):
    phone: Text = Field(json_schema_extra=PHONE_SCHEMA)


class UserSearchQuery(PageQuery):
    keyword: Text = Field(description="an exact username or phone number")
    size: Annotated[int, Bounded(1, SEARCH_LIMIT)] | None = Field(
        None, description=f"records per page (default {SEARCH_LIMIT})"
    )
    page_size: Annotated[int, Bounded(1, SEARCH_LIMIT)] | None = Field(
        None, description="alias of size"
    )


class OnlineQuery(Query):
    ids: Annotated[list[Id], CommaSeparated()] = Field(
        default_factory=list,
        max_length=MAX_ONLINE_QUERY,
        description=f"comma-separated user ids, at most {MAX_ONLINE_QUERY}",
    )


class PresenceUpdate(Body):
    hide_presence: Flag = Field(
        description="true: friends get no online/offline events, and others see you "
        "offline in GET /api/user/online"
    )


# -- responses -------------------------------------------------------------------------


class PresenceSetting(View):
    hide_presence: bool


class User(View):
    """A profile. phone and email are null except in the user's own view."""

    id: int
    username: str
    nickname: str
    avatar: str = Field(description="http(s) URL or empty")
    phone: str | None = Field(description="only in the user's own view")
    signature: str
    gender: int = Field(description="0 unknown, 1 male, 2 female")
    email: str | None = Field(description="only in the user's own view")
    region: str
    status: int = Field(description="1 active")
    created_at: int = Field(description="epoch milliseconds")


class LoginResult(View):
    token: str = Field(description="HS256 JWT; send as Authorization: Bearer <token>")
    expires_at: int = Field(description="epoch milliseconds")
    user: User


class TokenRefreshed(View):
    token: str = Field(description="the new token; the one that asked is refused from now on")
    expires_at: int = Field(description="epoch milliseconds")


class LoginSession(View):
    """One live login (token session) of the caller: one device."""

    id: str = Field(description="session id (stays the same across token refreshes)")
    device_type: str = Field(description="web, ios, android or desktop")
    ip: str = Field(description="the address the login came from")
    created_at: int = Field(description="login time, epoch milliseconds")
    last_used_at: int | None = Field(description="last authenticated use seen (to about a "
                                     "minute), epoch milliseconds; null if never used")
    expires_at: int = Field(description="expiry of its current token, epoch milliseconds")
    current: bool = Field(description="true for the session of the token asking")


class SmsCodeSent(View):
    expires_in: int = Field(description="seconds the code stays valid")
