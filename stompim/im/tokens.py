"""Login tokens: HS256 JWTs plus a registry of live token ids in the key-value store.

A token is accepted only when (1) its signature verifies with HS256 and the
configured secret — no other algorithm, `none` included, is ever accepted —
(2) it has not expired, and (3) its `jti` is still present in the hash
`tokens:<userId>` (field jti -> exp). Logging out deletes the field, so with
Redis as the store a revocation is seen by every node at once.

Claims: userId (int), username (str), jti (str), iat, exp (epoch seconds).

When the registry does not answer (Redis down: `Unavailable`), a token this node
verified within the last `cache_seconds` is still accepted, so a short outage does not
log everyone out; any other token is refused with Unavailable (503 / "service
unavailable, retry"): fail closed, and fast (the key-value store fails at once while it
is known down). The price: a token revoked elsewhere just before the outage stays usable
on this node for at most `cache_seconds`, and only while the registry cannot be read.

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

from stompim.errors import Unavailable
from stompim.im.errors import TOKEN_INVALID, ImError

if TYPE_CHECKING:
    from stompim.store import KeyValue

ALGORITHM = "HS256"
_REQUIRED = ["userId", "username", "jti", "iat", "exp"]
MAX_CACHED_TOKENS = 100_000


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
        *,
        cache_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kv = kv
        self._secret = secret
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._verified: dict[tuple[int, str], float] = {}  # (user, jti) -> when checked

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
        """decode() plus the registry check: a revoked token is refused (1003, 401).
        Registry down: accepted when verified here within `cache_seconds`, else
        Unavailable (see the module docstring)."""
        claims = self.decode(token)
        key = (claims.user_id, claims.jti)
        try:
            found = await self._kv.hget(registry_key(claims.user_id), claims.jti)
        except Unavailable:
            checked = self._verified.get(key)
            if checked is not None and self._monotonic() - checked <= self._cache_seconds:
                return claims
            raise
        if found is None:
            self._verified.pop(key, None)
            raise invalid("token revoked")
        self._remember(key)
        return claims

    def _remember(self, key: tuple[int, str]) -> None:
        now = self._monotonic()
        if key not in self._verified and len(self._verified) >= MAX_CACHED_TOKENS:
            horizon = now - self._cache_seconds
            self._verified = {k: t for k, t in self._verified.items() if t >= horizon}
            if len(self._verified) >= MAX_CACHED_TOKENS:
                self._verified.clear()
        self._verified[key] = now

    def _forget(self, user_id: int, jtis: list[str] | None = None) -> None:
        """Drop cached verifications of the user (of `jtis` only, when given)."""
        for key in [k for k in self._verified if k[0] == user_id]:
            if jtis is None or key[1] in jtis:
                del self._verified[key]

    async def revoke(self, user_id: int, jti: str) -> bool:
        self._forget(user_id, [jti])
        return await self._kv.hdel(registry_key(user_id), jti) > 0

    async def revoke_others(self, user_id: int, keep_jti: str) -> list[str]:
        """Revoke every live token of the user except `keep_jti`; returns the revoked ids."""
        key = registry_key(user_id)
        others = [j for j in (await self._kv.hgetall(key)) if j != keep_jti]
        self._forget(user_id, others if keep_jti else None)
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
