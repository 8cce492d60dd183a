"""Login tokens: HS256 JWTs plus a registry of live token ids in the key-value store.

A token is accepted only when (1) its signature verifies with HS256 and the
configured secret — no other algorithm, `none` included, is ever accepted —
(2) it has not expired, and (3) its `jti` is still present in the hash
`tokens:<userId>` (field jti -> exp). Logging out deletes the field, so with
Redis as the store a revocation is seen by every node at once.

Claims: userId (int), username (str), jti (str), iat, exp (epoch seconds).

Call order: `issue()` at login; `validate()` on every authenticated request or
STOMP CONNECT; `revoke()` at logout; `revoke_others()` after a password change.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt

from stompim.im.errors import TOKEN_INVALID, ImError

if TYPE_CHECKING:
    from stompim.store import KeyValue

ALGORITHM = "HS256"
_REQUIRED = ["userId", "username", "jti", "iat", "exp"]


@dataclass(frozen=True)
class TokenClaims:
    """Who a request or STOMP session acts for. `jti` is "" for a session opened
    with login+password (no token to revoke); `exp` is then 0."""

    user_id: int
    username: str
    jti: str
    exp: int


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: TokenClaims

    @property
    def expires_at_ms(self) -> int:
        return self.claims.exp * 1000


def invalid(message: str = "token expired or revoked") -> ImError:
    return ImError(TOKEN_INVALID, message, 401)


def registry_key(user_id: int) -> str:
    return f"tokens:{user_id}"


def looks_like_jwt(value: str) -> bool:
    """Three base64url segments: used to tell a JWT passcode from a password."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return False
    try:
        jwt.get_unverified_header(value)
    except jwt.PyJWTError:
        return False
    return True


class TokenService:
    """Issues, checks and revokes tokens. Stateless except for the KV registry."""

    def __init__(
        self,
        kv: KeyValue,
        secret: str,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        self._secret = secret
        self._ttl = ttl_seconds
        self._clock = clock

    async def issue(self, user_id: int, username: str) -> IssuedToken:
        now = int(self._clock())
        claims = TokenClaims(user_id, username, secrets.token_hex(16), now + self._ttl)
        payload = {
            "userId": user_id,
            "username": username,
            "jti": claims.jti,
            "iat": now,
            "exp": claims.exp,
        }
        token = jwt.encode(payload, self._secret, algorithm=ALGORITHM)
        key = registry_key(user_id)
        await self._prune(key, now)
        await self._kv.hset(key, claims.jti, str(claims.exp))
        # The registry lives as long as the newest token could.
        await self._kv.expire(key, self._ttl + 60)
        return IssuedToken(token, claims)

    def decode(self, token: str) -> TokenClaims:
        """Verify signature, algorithm and expiry (no registry lookup)."""
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise invalid("missing or malformed token")
        try:
            data: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise invalid("token expired") from None
        except jwt.PyJWTError:
            raise invalid("invalid token") from None
        user_id, username, jti, exp = (
            data.get("userId"),
            data.get("username"),
            data.get("jti"),
            data.get("exp"),
        )
        if (
            not isinstance(user_id, int)
            or isinstance(user_id, bool)
            or not isinstance(username, str)
            or not isinstance(jti, str)
            or not jti
            or not isinstance(exp, int)
        ):
            raise invalid("invalid token claims")
        return TokenClaims(user_id, username, jti, exp)

    async def validate(self, token: str) -> TokenClaims:
        """decode() plus the registry check: a revoked token is refused (1003, 401)."""
        claims = self.decode(token)
        if await self._kv.hget(registry_key(claims.user_id), claims.jti) is None:
            raise invalid("token revoked")
        return claims

    async def revoke(self, user_id: int, jti: str) -> bool:
        return await self._kv.hdel(registry_key(user_id), jti) > 0

    async def revoke_others(self, user_id: int, keep_jti: str) -> list[str]:
        """Revoke every live token of the user except `keep_jti`; returns the revoked ids."""
        key = registry_key(user_id)
        others = [j for j in (await self._kv.hgetall(key)) if j != keep_jti]
        if others:
            await self._kv.hdel(key, *others)
        return others

    async def revoke_all(self, user_id: int) -> list[str]:
        return await self.revoke_others(user_id, keep_jti="")

    async def _prune(self, key: str, now: int) -> None:
        """Drop expired entries so the registry does not grow with every login."""
        entries = await self._kv.hgetall(key)
        stale = [j for j, exp in entries.items() if not exp.isdigit() or int(exp) < now]
        if stale:
            await self._kv.hdel(key, *stale)
