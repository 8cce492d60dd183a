"""CONNECT credentials and the broker's Authenticator, answered by the accounts service.

Credentials of a STOMP CONNECT, the first present wins (DESIGN.md "STOMP contract"):
`Authorization: Bearer <jwt>`, a `token` header, a `passcode` that is a JWT, `login` +
`passcode` (username or phone and password; counts toward the failed-login limits),
then the token of the WebSocket handshake. None of them: refused.

How the broker hears the outcome: a business refusal (bad or revoked token, wrong
password, locked account, "busy checking passwords") becomes AuthenticationFailed with
the refusal's message (ERROR, close); a dependency that is down (Redis for the token
registry, the database for a password login) propagates as `Unavailable`, which the
broker answers with ERROR "service unavailable, retry" — never "internal error".

Call order: `authenticator = AccountAuthenticator()`, hand it to the Broker, then set
`authenticator.accounts` once the services exist (until then: "server is starting").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stompim.broker.auth import AuthenticationFailed, Principal
from stompim.errors import Refusal
from stompim.im.accounts import PASSWORD_SESSIONS, AccountService
from stompim.im.errors import BAD_CREDENTIALS, ImError
from stompim.im.tokens import TokenClaims, invalid, looks_like_jwt

__all__ = ["AccountAuthenticator", "Password", "Token", "credentials_of"]

_WRONG = "wrong account or password"


@dataclass(frozen=True)
class Token:
    """A login token (JWT) to validate against the registry."""

    value: str


@dataclass(frozen=True)
class Password:
    """A username (or phone) and password to check."""

    login: str
    password: str


def credentials_of(headers: Mapping[str, str], handshake_token: str | None) -> Token | Password:
    """The credentials a CONNECT carries (see the module docstring); ImError 1003 when
    none, or when `Authorization` is not a Bearer token."""
    auth = headers.get("Authorization") or headers.get("authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise invalid("Authorization must be 'Bearer <token>'")
        return Token(value.strip())
    if headers.get("token"):
        return Token(headers["token"])
    passcode = headers.get("passcode")
    if passcode and looks_like_jwt(passcode):
        return Token(passcode)
    login = headers.get("login")
    if login and passcode:
        return Password(login, passcode)
    if handshake_token:
        return Token(handshake_token)
    raise invalid("authentication required")


async def authenticate(
    accounts: AccountService,
    headers: Mapping[str, str],
    handshake_token: str | None,
    *,
    ip: str | None = None,
) -> TokenClaims:
    """Who a CONNECT speaks for (claims with an empty `jti` and `sid` for a password
    login, carrying the account's credential generation). `ip` is the client's address:
    password logins count toward its failed-login limit, as REST logins do."""
    credentials = credentials_of(headers, handshake_token)
    if isinstance(credentials, Token):
        return await accounts.authenticate_token(credentials.value)
    try:
        user = await accounts.check_credentials(
            username=credentials.login, password=credentials.password, ip=ip
        )
    except ImError as exc:
        if exc.code == BAD_CREDENTIALS:
            raise ImError(BAD_CREDENTIALS, _WRONG, 401) from None
        raise
    return TokenClaims(user.id, user.username, "", 0, PASSWORD_SESSIONS, user.credential_gen)


class AccountAuthenticator:
    """The broker's Authenticator (stompim.broker.auth), answered by the accounts service."""

    def __init__(self, accounts: AccountService | None = None) -> None:
        self.accounts = accounts

    async def authenticate(
        self, headers: Mapping[str, str], handshake_token: str | None, *,
        peer: str | None = None,
    ) -> Principal:
        """The principal's `token_id` is the token session id ("" for login+password),
        which closing by session (logout, DELETE /api/user/sessions/{id}, password
        change) matches; `generation` is the credential generation it belongs to."""
        if self.accounts is None:
            raise AuthenticationFailed("server is starting")
        try:
            claims = await authenticate(self.accounts, headers, handshake_token, ip=peer)
        except Refusal as exc:
            raise AuthenticationFailed(exc.message) from None
        return Principal(user_id=claims.user_id, username=claims.username,
                         token_id=claims.sid, generation=claims.gen)
