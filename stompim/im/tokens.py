"""Login tokens: HS256 JWTs plus a registry of live login sessions in the key-value store.

A login opens a *token session* (id `sid`): one device's login, listed by `GET
/api/user/sessions`. The session holds one current token at a time; a refresh gives it
a new token (new `jti`, later `exp`) and the old one dies. The registry is the hash
`tokens:<userId>`, field sid -> a JSON entry {jti, exp, gen, dev, ip, iat}.

A token is accepted only when (1) its signature verifies with HS256 and the configured
secret — no other algorithm, `none` included, is ever accepted — (2) it has not
expired, and (3) the registry entry of its `sid` is present AND names this very token:
same `jti`, same `exp`. So a token re-signed with a longer `exp` (by anyone holding the
secret) is refused, and so is the token a refresh replaced. Logging out deletes the
field, so with Redis as the store a revocation is seen by every node at once.

The entry's `gen` is the user's credential generation the session belongs to; the
accounts service refuses a session whose generation is older than the account's (a
password change, a disable or an admin revocation moved it on). A password change
re-stamps the caller's own entry with the new generation, so that one session lives on.

Claims: userId (int), username (str), jti (str), sid (str), gen (int), iat, exp (epoch
seconds). Tokens issued before sessions existed have no sid/gen: their sid is their jti
and their registry value a bare expiry, read as generation 0.

When the registry does not answer (Redis down: `Unavailable`), a token this node
verified within the last `cache_seconds` is still accepted, so a short outage does not
log everyone out; any other token is refused with Unavailable (503 / "service
unavailable, retry"): fail closed, and fast (the key-value store fails at once while it
is known down). The price: a token revoked elsewhere just before the outage stays usable
on this node for at most `cache_seconds`, and only while the registry cannot be read.

Call order: `issue()` at login; `validate()` on every authenticated request or STOMP
CONNECT; `refresh()` for a new token of the same session; `revoke()` at logout;
`revoke_others()` / `revoke_all()` when credentials change; `sessions()` to list them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import jwt
import orjson

from stompim.errors import Unavailable
from stompim.im.errors import TOKEN_INVALID, ImError

if TYPE_CHECKING:
    from stompim.store import KeyValue

ALGORITHM = "HS256"
_REQUIRED = ["userId", "username", "jti", "iat", "exp"]
MAX_CACHED_TOKENS = 100_000
LEGACY_DEVICE = "web"
"""The device type of a token issued before login sessions existed (a web login then)."""
LAST_USE_RESOLUTION = 60.0
"""Seconds: a session's "last used" time is written at most this often per node."""


@dataclass(frozen=True)
class TokenClaims:
    """Who a request or STOMP session acts for. `jti` is "" for a session opened
    with login+password (no token to revoke); `exp` is then 0. `sid` is the token
    session (the registry field; "" for a password session), `gen` its credential
    generation, `device` the device type the login named."""

    user_id: int
    username: str
    jti: str
    exp: int
    sid: str = ""
    gen: int = 0
    device: str = ""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: TokenClaims

    @property
    def expires_at_ms(self) -> int:
        return self.claims.exp * 1000


@dataclass(frozen=True)
class SessionEntry:
    """One registry entry: a live token session of a user."""

    sid: str
    jti: str
    exp: int
    gen: int = 0
    device: str = ""
    ip: str = ""
    created: int = 0  # epoch seconds of the login
    last_used_ms: int = 0

    def encode(self) -> str:
        return orjson.dumps({
            "jti": self.jti, "exp": self.exp, "gen": self.gen, "dev": self.device,
            "ip": self.ip, "iat": self.created,
        }).decode()

    @classmethod
    def decode(cls, sid: str, raw: str) -> SessionEntry | None:
        """The entry stored under `sid`; a bare expiry is a token from before sessions
        (generation 0, and the device logins defaulted to: web); anything unreadable is
        None (treated as absent)."""
        if raw.isdigit():
            return cls(sid, sid, int(raw), 0, LEGACY_DEVICE)
        try:
            data = orjson.loads(raw)
            return cls(
                sid, str(data["jti"]), int(data["exp"]), int(data.get("gen", 0)),
                str(data.get("dev", "")), str(data.get("ip", "")), int(data.get("iat", 0)),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


def invalid(message: str = "token expired or revoked") -> ImError:
    return ImError(TOKEN_INVALID, message, 401)


def registry_key(user_id: int) -> str:
    return f"tokens:{user_id}"


def last_use_key(user_id: int) -> str:
    return f"tokens-seen:{user_id}"


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
    """Issues, checks and revokes tokens. Stateless except for the KV registry (and two
    small in-process caches: verified tokens for outages, last-use writes)."""

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
        self._verified: dict[tuple[int, str, str], float] = {}  # (user, sid, jti) -> when
        self._seen_written: dict[tuple[int, str], float] = {}  # (user, sid) -> when

    async def issue(
        self, user_id: int, username: str, *, gen: int = 0, device: str = "",
        ip: str | None = None,
    ) -> IssuedToken:
        """A new token session with its first token."""
        now = int(self._clock())
        jti = secrets.token_hex(16)
        entry = SessionEntry(jti, jti, now + self._ttl, gen, device, ip or "", now)
        return await self._store(user_id, username, entry, now)

    async def refresh(self, claims: TokenClaims) -> IssuedToken:
        """A new token for the session of `claims` (checked by validate() before); the
        token of `claims` is refused from now on. A session that ended meanwhile: 1003."""
        key = registry_key(claims.user_id)
        raw = await self._kv.hget(key, claims.sid)
        entry = SessionEntry.decode(claims.sid, raw) if raw is not None else None
        if entry is None or entry.jti != claims.jti:
            raise invalid("token revoked")
        now = int(self._clock())
        fresh = replace(entry, jti=secrets.token_hex(16), exp=now + self._ttl)
        self._forget(claims.user_id, [claims.sid])
        return await self._store(claims.user_id, claims.username, fresh, now)

    async def _store(
        self, user_id: int, username: str, entry: SessionEntry, now: int
    ) -> IssuedToken:
        payload = {
            "userId": user_id, "username": username, "jti": entry.jti, "sid": entry.sid,
            "gen": entry.gen, "iat": now, "exp": entry.exp,
        }
        token = jwt.encode(payload, self._secret, algorithm=ALGORITHM)
        key = registry_key(user_id)
        await self._prune(user_id, now)
        await self._kv.hset(key, entry.sid, entry.encode())
        # The registry lives as long as the newest token could.
        await self._kv.expire(key, self._ttl + 60)
        claims = TokenClaims(user_id, username, entry.jti, entry.exp, entry.sid, entry.gen,
                             entry.device)
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
        sid, gen = data.get("sid", jti), data.get("gen", 0)
        if (
            not isinstance(user_id, int)
            or isinstance(user_id, bool)
            or not isinstance(username, str)
            or not isinstance(jti, str)
            or not jti
            or not isinstance(exp, int)
            or not isinstance(sid, str)
            or not sid
            or not isinstance(gen, int)
        ):
            raise invalid("invalid token claims")
        return TokenClaims(user_id, username, jti, exp, sid, gen)

    async def validate(self, token: str) -> TokenClaims:
        """decode() plus the registry check: a revoked, replaced or re-signed token is
        refused (1003, 401). The claims returned carry the generation and device of the
        registry entry. Registry down: accepted when verified here within
        `cache_seconds`, else Unavailable (see the module docstring)."""
        claims = self.decode(token)
        key = (claims.user_id, claims.sid, claims.jti)
        try:
            raw = await self._kv.hget(registry_key(claims.user_id), claims.sid)
        except Unavailable:
            checked = self._verified.get(key)
            if checked is not None and self._monotonic() - checked <= self._cache_seconds:
                return claims
            raise
        entry = SessionEntry.decode(claims.sid, raw) if raw is not None else None
        if entry is None or entry.jti != claims.jti or entry.exp != claims.exp:
            self._verified.pop(key, None)
            raise invalid("token revoked")
        self._remember(key)
        await self._mark_used(claims.user_id, claims.sid)
        return replace(claims, gen=entry.gen, device=entry.device)

    async def _mark_used(self, user_id: int, sid: str) -> None:
        """Record the session's last use, at most every LAST_USE_RESOLUTION seconds."""
        now = self._monotonic()
        written = self._seen_written.get((user_id, sid))
        if written is not None and now - written < LAST_USE_RESOLUTION:
            return
        if len(self._seen_written) >= MAX_CACHED_TOKENS:
            self._seen_written.clear()
        self._seen_written[(user_id, sid)] = now
        try:
            await self._kv.hset(last_use_key(user_id), sid, str(int(self._clock() * 1000)))
            await self._kv.expire(last_use_key(user_id), self._ttl + 60)
        except Unavailable:
            pass  # a last-use time is a hint: never refuse a request for it

    async def registry(self, user_id: int) -> dict[str, str]:
        """The raw registry of the user: sid -> encoded entry (SessionEntry.decode)."""
        return await self._kv.hgetall(registry_key(user_id))

    async def entry(self, user_id: int, sid: str) -> SessionEntry | None:
        raw = await self._kv.hget(registry_key(user_id), sid)
        return SessionEntry.decode(sid, raw) if raw is not None else None

    async def sessions(self, user_id: int) -> list[SessionEntry]:
        """The user's live token sessions, newest login first, with their last use."""
        now = int(self._clock())
        entries = await self._kv.hgetall(registry_key(user_id))
        seen = await self._kv.hgetall(last_use_key(user_id))
        found = []
        for sid, raw in entries.items():
            entry = SessionEntry.decode(sid, raw)
            if entry is None or entry.exp < now:
                continue
            last = seen.get(sid, "")
            found.append(replace(entry, last_used_ms=int(last) if last.isdigit() else 0))
        return sorted(found, key=lambda e: (-e.created, e.sid))

    async def restamp(self, user_id: int, sid: str, gen: int) -> None:
        """Move the session `sid` (if still live) to credential generation `gen`."""
        entry = await self.entry(user_id, sid)
        if entry is not None:
            await self._kv.hset(registry_key(user_id), sid, replace(entry, gen=gen).encode())

    def _remember(self, key: tuple[int, str, str]) -> None:
        now = self._monotonic()
        if key not in self._verified and len(self._verified) >= MAX_CACHED_TOKENS:
            horizon = now - self._cache_seconds
            self._verified = {k: t for k, t in self._verified.items() if t >= horizon}
            if len(self._verified) >= MAX_CACHED_TOKENS:
                self._verified.clear()
        self._verified[key] = now

    def _forget(self, user_id: int, sids: list[str] | None = None) -> None:
        """Drop cached verifications of the user (of the sessions `sids` only, when given)."""
        for key in [k for k in self._verified if k[0] == user_id]:
            if sids is None or key[1] in sids:
                del self._verified[key]

    async def revoke(self, user_id: int, sid: str) -> bool:
        """End the token session `sid`; False when it was not live."""
        self._forget(user_id, [sid])
        return await self._kv.hdel(registry_key(user_id), sid) > 0

    async def revoke_others(
        self, user_id: int, keep_sid: str, *, device: str | None = None
    ) -> list[str]:
        """Revoke every live session of the user except `keep_sid` (only those of
        `device` when given); returns the revoked session ids."""
        key = registry_key(user_id)
        entries = await self._kv.hgetall(key)
        others = [
            sid for sid, raw in entries.items()
            if sid != keep_sid and (device is None or _device_of(sid, raw) == device)
        ]
        self._forget(user_id, others if keep_sid or device is not None else None)
        if others:
            await self._kv.hdel(key, *others)
        return others

    async def revoke_all(self, user_id: int) -> list[str]:
        return await self.revoke_others(user_id, keep_sid="")

    async def _prune(self, user_id: int, now: int) -> None:
        """Drop expired entries so the registry does not grow with every login."""
        entries = await self._kv.hgetall(registry_key(user_id))
        stale = []
        for sid, raw in entries.items():
            entry = SessionEntry.decode(sid, raw)
            if entry is None or entry.exp < now:
                stale.append(sid)
        if stale:
            await self._kv.hdel(registry_key(user_id), *stale)
            await self._kv.hdel(last_use_key(user_id), *stale)


def _device_of(sid: str, raw: str) -> str | None:
    entry = SessionEntry.decode(sid, raw)
    return entry.device if entry is not None else None
