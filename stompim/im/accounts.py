"""Accounts: registration, login/logout, profiles, passwords, SMS codes, presence.

`AccountService` is the one place the account rules live; the REST routes and
the STOMP binding's authenticator (stompim.stomp.auth: CONNECT headers) both call
it. Collaborators, each in its own module:

    userfields   field validation (username, phone, avatar URL, ...)
    passwords    password policy + bcrypt in a worker thread
    tokens       HS256 JWTs + the KV registry of live token sessions
    login_limits failed-login and registration limits (per address, account+address,
                 account), over ratelimit's fixed-window counters in KV
    sms          6-digit codes + the pluggable SmsSender
    presence     online flags from KV keys presence:<uid>

Login never reveals whether an account exists: unknown account and wrong
password give the same ImError(1002) after the same bcrypt work.

Credential generations: every account has a `credential_gen` (users table). A token
session and a login+password STOMP session belong to the generation current when they
were opened; a password change, a disable or an admin revocation moves it on, revokes
the token sessions in the registry and closes the live STOMP sessions cluster-wide. The
generation check on every token use (cached ACTIVE_CACHE_SECONDS) and the nodes'
periodic session check (stompim.stomp.session_check) catch what a lost Redis control
or a change made from another process without Redis would miss.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache

from stompim.errors import DuplicateKey, NotFoundInStore
from stompim.im import passwords, userfields
from stompim.im.errors import (
    ACCOUNT_DISABLED,
    BAD_CREDENTIALS,
    BAD_REQUEST,
    PHONE_EXISTS,
    SESSION_NOT_FOUND,
    SMS_CODE_INVALID,
    USER_NOT_FOUND,
    USERNAME_EXISTS,
    ImError,
)
from stompim.im.ids import id_list, id_value
from stompim.im.login_limits import LoginLimits
from stompim.im.paging import Page, check_window, window
from stompim.im.presence import Presence
from stompim.im.singleflight import SingleFlight
from stompim.im.sms import SmsCodes, SmsSender, sender_from_config
from stompim.im.tokens import IssuedToken, SessionEntry, TokenClaims, TokenService, invalid
from stompim.store.users import UserRecord, UserRepository

if TYPE_CHECKING:
    from stompim.config import Config
    from stompim.im.publisher import Publisher
    from stompim.store import Database, KeyValue

log = logging.getLogger(__name__)

ACTIVE = 1
ACTIVE_CACHE_SECONDS = 2.0
"""How long a node trusts an account's status and credential generation it read (see
authenticate_token)."""
DEVICE_TYPES = ("web", "ios", "android", "desktop")
DEFAULT_DEVICE = "web"
ACTIVE_CACHE_SIZE = 50_000
MAX_ONLINE_QUERY = 200
SEARCH_LIMIT = 20
_WRONG = "wrong account or password"
PASSWORD_SESSIONS = ""
"""The token_id of STOMP sessions opened with login+password (close_user_sessions)."""


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: int  # epoch milliseconds
    user: UserRecord


class AccountService:
    def __init__(
        self,
        config: Config,
        db: Database,
        kv: KeyValue,
        publisher: Publisher,
        *,
        sms_sender: SmsSender | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.users = UserRepository(db)
        self.kv = kv
        self.publisher = publisher
        auth = config.auth
        self.tokens = TokenService(
            kv, auth.jwt_secret, auth.token_ttl_seconds, cache_seconds=auth.token_cache_seconds
        )
        self.sms = SmsCodes(kv, sms_sender or sender_from_config(config.sms), config.sms)
        self.presence = Presence(kv)
        self._password_wait = auth.password_max_wait_ms / 1000
        self.limits = LoginLimits(kv, auth)
        # user id -> credential generation, of accounts recently read active, so a token
        # check costs no query every time
        self._active: TTLCache[int, int] = TTLCache(
            ACTIVE_CACHE_SIZE, ACTIVE_CACHE_SECONDS, timer=monotonic
        )
        # a crowd of token checks of one user when the cache expires: one query for all
        self._active_reads: SingleFlight[int, int | None] = SingleFlight()

    # ---------------------------------------------------------------- register / login

    async def register(
        self,
        *,
        username: Any,
        password: Any,
        nickname: Any = None,
        phone: Any = None,
        sms_code: Any = None,
        ip: str | None = None,
    ) -> UserRecord:
        """Create an active account. Duplicate username -> 1001/409, phone -> 1005/409;
        too many attempts from `ip` -> 429."""
        await self.limits.registering(ip)
        username = userfields.check_username(username)
        passwords.check_policy(password)
        nickname = username if nickname is None else userfields.check_nickname(nickname)
        if phone is not None:
            phone = userfields.check_phone(phone)
            if sms_code is not None or self.config.sms.require_for_register:
                if sms_code is None:
                    raise ImError(SMS_CODE_INVALID, "smsCode is required with phone")
                if not await self.sms.verify(phone, userfields.check_sms_code(sms_code)):
                    raise ImError(SMS_CODE_INVALID, "wrong or expired SMS code")
        elif sms_code is not None:
            raise ImError(BAD_REQUEST, "smsCode: given without phone")
        hashed = await passwords.hash_password(
            password, self.config.auth.bcrypt_rounds, max_wait=self._password_wait
        )
        return await self.create_user(username, hashed, nickname, phone)

    async def create_user(
        self, username: str, password_hash: str, nickname: str, phone: str | None
    ) -> UserRecord:
        """Insert an active account of checked fields; a taken username or phone is
        refused 1001 / 1005 (409), decided by the store's unique keys."""
        try:
            return await self.users.create(
                username=username, password_hash=password_hash, nickname=nickname, phone=phone
            )
        except DuplicateKey as exc:
            if exc.key == "phone":
                raise ImError(PHONE_EXISTS, "phone number already registered", 409) from None
            raise ImError(USERNAME_EXISTS, "username already exists", 409) from None

    async def login(
        self,
        *,
        password: Any,
        username: Any = None,
        phone: Any = None,
        ip: str | None = None,
        device_type: Any = None,
    ) -> LoginResult:
        """Check credentials and open a token session. A username made of digits
        (usernames start with a letter) is looked up as a phone number. Then
        auth.single_session decides which older sessions end (see config.toml): token
        sessions, and STOMP sessions opened with login+passcode (device type web)."""
        device = check_device_type(device_type)
        user = await self.check_credentials(
            username=username, phone=phone, password=password, ip=ip
        )
        issued = await self.tokens.issue(
            user.id, user.username, gen=user.credential_gen, device=device, ip=ip
        )
        mode = self.config.auth.single_session
        if mode != "off":
            ended = await self.tokens.revoke_others(
                user.id, issued.claims.sid, device=device if mode == "per_device_type" else None
            )
            for sid in ended:
                await self._close_sessions(user.id, "logged in elsewhere", sid)
            # STOMP sessions opened with login+passcode have no token, so the registry
            # does not list them; they are sessions all the same (of the default device,
            # as a login without deviceType is), and end with the others.
            if mode == "one" or device == DEFAULT_DEVICE:
                await self._close_sessions(user.id, "logged in elsewhere", PASSWORD_SESSIONS)
        return LoginResult(issued.token, issued.expires_at_ms, user)

    async def check_credentials(
        self, *, password: Any, username: Any = None, phone: Any = None, ip: str | None = None
    ) -> UserRecord:
        """Password check with the failed-login limits (stompim.im.login_limits)."""
        ident = username if username not in (None, "") else phone
        if not isinstance(ident, str) or not ident:
            raise ImError(BAD_REQUEST, "username or phone is required")
        if not isinstance(password, str) or not password:
            raise ImError(BAD_REQUEST, "password is required")
        if len(ident) > 64 or len(password) > 256:
            raise ImError(BAD_CREDENTIALS, _WRONG)
        await self.limits.check_address(ip)
        by_phone = username in (None, "") or not ident[0].isalpha()
        user = await (self.users.by_phone(ident) if by_phone else self.users.by_username(ident))
        account_key = f"u{user.id}" if user else f"n:{ident.lower()}"
        await self.limits.check(account_key, ip)
        ok = await passwords.verify_password(
            password, user.password_hash if user else None, self.config.auth.bcrypt_rounds,
            max_wait=self._password_wait,
        )
        if not ok or user is None:
            await self.limits.failed(account_key, ip)
            raise ImError(BAD_CREDENTIALS, _WRONG)
        if user.status != ACTIVE:
            raise ImError(ACCOUNT_DISABLED, "account disabled", 403)
        await self.limits.succeeded(account_key, ip)
        return user

    async def logout(self, claims: TokenClaims) -> None:
        """End this token session and close the STOMP sessions opened with it."""
        if claims.sid:
            await self.tokens.revoke(claims.user_id, claims.sid)
            await self._close_sessions(claims.user_id, "token revoked", claims.sid)

    # ---------------------------------------------------------------- token sessions

    async def refresh_token(self, claims: TokenClaims) -> IssuedToken:
        """A new token for the caller's token session (same device, same session id, so
        its live STOMP sessions stay); the calling token is refused from now on."""
        if not claims.sid:
            raise invalid("a password session has no token to refresh")
        return await self.tokens.refresh(claims)

    async def list_sessions(self, user_id: int) -> list[SessionEntry]:
        """The user's live token sessions, newest first."""
        return await self.tokens.sessions(user_id)

    async def end_session(self, user_id: int, sid: Any) -> None:
        """End one of the user's token sessions (its token and live STOMP sessions);
        an unknown id -> 1009/404."""
        if not isinstance(sid, str) or not sid or not await self.tokens.revoke(user_id, sid):
            raise ImError(SESSION_NOT_FOUND, "session not found", 404)
        await self._close_sessions(user_id, "session ended", sid)

    # ---------------------------------------------------------------- authentication

    async def authenticate_token(self, token: str) -> TokenClaims:
        """Valid, unexpired, unrevoked HS256 token of an active account, of the account's
        current credential generation -> claims; else ImError(1003, 401). The account's
        status and generation are read from the database (and kept ACTIVE_CACHE_SECONDS):
        a user disabled, deleted or revoked from another process (`stompim user
        disable`) loses every token within that time on every node, whatever the token
        registry still holds (an in-process registry cannot be reached from outside
        the node). A close-sessions control (from any node, through Redis) drops the
        cached state at once (`forget`)."""
        claims = await self.tokens.validate(token)
        generation = await self.current_generation(claims.user_id)
        if generation is None:
            raise invalid("account disabled")
        if claims.gen < generation:
            raise invalid("token revoked")
        return claims

    def forget(self, user_id: int) -> None:
        """Drop what this node cached about the account (its credentials changed,
        perhaps on another node: the cluster's close-sessions control calls this)."""
        self._active.pop(user_id, None)
        self._active_reads.forget(user_id)

    async def current_generation(self, user_id: int) -> int | None:
        """The credential generation of an active account; None when the account is
        missing or disabled (cached ACTIVE_CACHE_SECONDS; concurrent misses share one
        read, see SingleFlight)."""
        generation = self._active.get(user_id)
        if generation is None:
            return await self._active_reads.run(user_id, lambda: self._read_generation(user_id))
        return generation

    async def _read_generation(self, user_id: int) -> int | None:
        user = await self.users.get(user_id)
        if user is None or user.status != ACTIVE:
            return None
        generation: int = user.credential_gen
        self._active[user_id] = generation
        return generation

    # ---------------------------------------------------------------- profiles

    async def get_user(self, user_id: int) -> UserRecord:
        """An active user; missing or disabled -> 1004/404 (an id outside 1..2^63-1: 9001)."""
        user = await self.users.get(id_value(user_id, "userId"))
        if user is None or user.status != ACTIVE:
            raise ImError(USER_NOT_FOUND, "user not found", 404)
        return user

    async def update_profile(self, user_id: int, changes: Mapping[str, Any]) -> UserRecord:
        """Change the caller's own profile. The read-only `id`, `username`, `phone` and
        `status` may be echoed back unchanged (front ends send the whole object) but
        never changed here."""
        user = await self.get_user(user_id)
        changes = dict(changes)
        read_only = (
            ("id", user.id), ("username", user.username), ("phone", user.phone),
            ("status", user.status),
        )
        for echoed, current in read_only:
            if echoed in changes:
                if changes[echoed] != current:
                    raise ImError(BAD_REQUEST, f"{echoed}: cannot be changed here")
                del changes[echoed]
        checked = userfields.check_profile_changes(changes)
        if not checked:
            return user
        try:
            return await self.users.update_profile(user_id, checked)
        except NotFoundInStore:
            raise ImError(USER_NOT_FOUND, "user not found", 404) from None

    async def search(
        self, keyword: Any, *, offset: int = 0, limit: int = SEARCH_LIMIT
    ) -> Page[UserRecord]:
        """Active users whose username or phone equals `keyword` exactly (at most
        SEARCH_LIMIT hits in all)."""
        if not isinstance(keyword, str):
            raise ImError(BAD_REQUEST, "keyword: must be a string")
        check_window(offset, limit, SEARCH_LIMIT)
        if not keyword or len(keyword) > 64:
            return Page([], 0)
        hits = await self.users.search(keyword, SEARCH_LIMIT)
        return Page(window(hits, offset, limit), len(hits))

    async def change_password(
        self, claims: TokenClaims, old_password: Any, new_password: Any
    ) -> None:
        """Old password must match (1002); afterwards the credential generation moves
        on: every other token session is revoked and every STOMP session of the user
        closes (login+password ones included), except those of the caller's token
        session, which stays valid."""
        if not isinstance(old_password, str) or not old_password:
            raise ImError(BAD_REQUEST, "oldPassword is required")
        passwords.check_policy(new_password, "newPassword")
        user = await self.get_user(claims.user_id)
        account_key = f"u{user.id}"
        await self.limits.check(account_key, None)
        rounds = self.config.auth.bcrypt_rounds
        if not await passwords.verify_password(
            old_password, user.password_hash, rounds, max_wait=self._password_wait
        ):
            await self.limits.failed(account_key, None)
            raise ImError(BAD_CREDENTIALS, "wrong password")
        hashed = await passwords.hash_password(new_password, rounds, max_wait=self._password_wait)
        try:
            generation = await self.users.set_password(user.id, hashed)
        except NotFoundInStore:
            raise ImError(USER_NOT_FOUND, "user not found", 404) from None
        self._active.pop(user.id, None)
        if claims.sid:
            await self.tokens.restamp(user.id, claims.sid, generation)
        for sid in await self.tokens.revoke_others(user.id, claims.sid):
            await self._close_sessions(user.id, "password changed", sid)
        await self._close_sessions(user.id, "password changed", PASSWORD_SESSIONS)

    async def disable_user(self, user_id: int) -> int:
        """Disable an account: it disappears from lookups, its credential generation
        moves on, every token dies and its STOMP sessions close (cluster-wide through
        the publisher). Returns how many live tokens the registry revoked."""
        try:
            await self.users.set_status(user_id, 0)
        except NotFoundInStore:
            raise ImError(USER_NOT_FOUND, "user not found", 404) from None
        self._active.pop(user_id, None)
        self._active_reads.forget(user_id)
        return await self.end_sessions(user_id, "account disabled")

    async def revoke_credentials(self, user_id: int, reason: str = "sessions revoked") -> int:
        """An admin revocation: move the credential generation on, then end every token
        and session of the user. Returns how many live tokens the registry revoked."""
        try:
            await self.users.bump_generation(user_id)
        except NotFoundInStore:
            raise ImError(USER_NOT_FOUND, "user not found", 404) from None
        self._active.pop(user_id, None)
        return await self.end_sessions(user_id, reason)

    async def end_sessions(self, user_id: int, reason: str) -> int:
        """Revoke every token of the user and close all their STOMP sessions (login +
        password ones too), cluster-wide. Returns how many tokens were revoked."""
        self._active.pop(user_id, None)
        revoked = await self.tokens.revoke_all(user_id)
        await self._close_sessions(user_id, reason, None)
        return len(revoked)

    # ---------------------------------------------------------------- SMS, presence

    async def send_sms_code(self, phone: Any, ip: str | None) -> int:
        """Send a code to `phone`; returns its lifetime in seconds. 429 when over limits."""
        return await self.sms.request(userfields.check_phone(phone), ip)

    async def online_status(self, ids: Iterable[int]) -> dict[int, bool]:
        ids = list(ids)
        if len(ids) > MAX_ONLINE_QUERY:
            raise ImError(BAD_REQUEST, f"ids: at most {MAX_ONLINE_QUERY} per request")
        return await self.presence.is_online(id_list(ids, "ids"))

    # ---------------------------------------------------------------- internals

    async def _close_sessions(self, user_id: int, reason: str, sid: str | None) -> None:
        # The revocation is already stored; a publisher failure must not undo the
        # REST answer (the nodes' session check closes them later anyway).
        try:
            await self.publisher.close_user_sessions(user_id, reason, token_id=sid)
        except Exception:
            log.exception("closing sessions of user %s failed", user_id)


def check_device_type(value: Any) -> str:
    """A login's deviceType: one of DEVICE_TYPES (absent or null: DEFAULT_DEVICE)."""
    if value is None or value == "":
        return DEFAULT_DEVICE
    if not isinstance(value, str) or value.lower() not in DEVICE_TYPES:
        raise ImError(BAD_REQUEST, f"deviceType: must be one of {', '.join(DEVICE_TYPES)}")
    return value.lower()
