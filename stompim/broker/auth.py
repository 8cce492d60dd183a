"""Who is on the other end of a STOMP session.

The broker does not know how credentials work: it hands the CONNECT headers (and
the token of the WebSocket handshake, when there was one) to an `Authenticator`
and gets a `Principal` back, or an `AuthenticationFailed` (any Refusal) whose
message goes into the ERROR frame; an Unavailable dependency answers "service
unavailable, retry".  The STOMP binding of the IM domain provides the real
authenticator (JWT, passwords); this module has the contract plus two small ones
for tests and open nodes.

Call order: the broker calls `authenticate()` once per session, after the session
asked for it (the `Authenticate` event: version negotiated, before CONNECTED);
nothing else is processed for that session until it returns.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from .errors import AuthenticationFailed

__all__ = [
    "AnonymousAuthenticator",
    "AuthenticationFailed",
    "Authenticator",
    "Principal",
    "StaticAuthenticator",
]


@dataclass(frozen=True)
class Principal:
    """An authenticated user. `token_id` is the JWT `jti` the session was opened
    with, so that a logout can close just the sessions of that token; `generation`
    is the user's credential generation at authentication (a password change or a
    revocation moves it on, which ends the sessions of older generations)."""

    user_id: int
    username: str
    token_id: str | None = None
    generation: int = 0


class Authenticator(Protocol):
    async def authenticate(
        self, headers: Mapping[str, str], handshake_token: str | None, *,
        peer: str | None = None,
    ) -> Principal:
        """Return who connects, or raise AuthenticationFailed (or Unavailable).

        `headers` are the CONNECT frame's headers (first occurrence wins);
        `handshake_token` is the token of the WebSocket handshake (`?token=` or
        `Authorization: Bearer`), None over TCP; `peer` is the client's IP address
        when the transport knows it (failed-login limits count per address).
        """
        ...


class StaticAuthenticator:
    """login -> (user_id, passcode) from a fixed table: for tests and demos.

    A handshake token or `token` header equal to a login's passcode also works,
    which lets tests exercise the handshake-token path without JWTs.
    """

    def __init__(self, users: Mapping[str, tuple[int, str]]) -> None:
        self._users = dict(users)

    async def authenticate(
        self, headers: Mapping[str, str], handshake_token: str | None, *,
        peer: str | None = None,
    ) -> Principal:
        login = headers.get("login")
        passcode = headers.get("passcode")
        if login is not None:
            entry = self._users.get(login)
            if entry is None or entry[1] != passcode:
                raise AuthenticationFailed("bad login or passcode")
            return Principal(entry[0], login)
        token = headers.get("token") or handshake_token
        if token is not None:
            for name, (user_id, secret) in self._users.items():
                if secret == token:
                    return Principal(user_id, name, token_id=token)
            raise AuthenticationFailed("invalid token")
        raise AuthenticationFailed("missing credentials")


class AnonymousAuthenticator:
    """Lets clients without credentials in (config `stomp.allow_anonymous`).

    Credentials, when present, still go to `inner` and must be valid. Each
    anonymous session gets its own negative user id, so per-user limits and
    per-user destinations never mix two strangers.
    """

    _CREDENTIAL_HEADERS = ("login", "passcode", "token", "Authorization", "authorization")

    def __init__(self, inner: Authenticator | None = None) -> None:
        self._inner = inner
        self._ids = itertools.count(1)

    async def authenticate(
        self, headers: Mapping[str, str], handshake_token: str | None, *,
        peer: str | None = None,
    ) -> Principal:
        has_credentials = handshake_token is not None or any(
            h in headers for h in self._CREDENTIAL_HEADERS
        )
        if has_credentials and self._inner is not None:
            return await self._inner.authenticate(headers, handshake_token, peer=peer)
        n = next(self._ids)
        return Principal(-n, f"anonymous-{n}")
