"""Operator actions on accounts: what `stompim user ...` does, with the domain's rules.

`AccountAdmin` wraps the `AccountService` of a wired `ImServices`, so the same field
checks, password policy and bcrypt-in-a-thread apply as on the REST routes. What an
operator may do that a user may not: create an account without an SMS code, look up
disabled accounts, disable and enable them, set a password without knowing the old one.

Ending a user's access (disable, reset_password, revoke) moves the account's credential
generation on in the database, then goes through `AccountService.end_sessions`: the
token sessions are deleted from the registry in the key-value store and a "close this
user's sessions" control is published. With Redis both reach every node at once. On
the embedded default (in-process store) neither can leave the admin process; there the
generation does the work: the node's token check reads the account (trusting what it
read for ACTIVE_CACHE_SECONDS) and refuses tokens of an older generation, and its
periodic session check (auth.session_check_ms) closes the STOMP sessions already open.

Call order: `admin = AccountAdmin(services.accounts)`, then any method; none keeps state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stompim.errors import NotFoundInStore
from stompim.im import passwords, userfields
from stompim.im.accounts import AccountService
from stompim.im.errors import BAD_REQUEST, USER_NOT_FOUND, ImError
from stompim.store.users import STATUS_ACTIVE, STATUS_DISABLED, UserRecord

__all__ = ["MAX_PAGE_SIZE", "AccountAdmin", "UserPage"]

MAX_PAGE_SIZE = 1000
MAX_ID = 2**63  # ids are signed 64-bit on both databases


@dataclass(frozen=True)
class UserPage:
    records: list[UserRecord]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return (self.total + self.size - 1) // self.size


class AccountAdmin:
    def __init__(self, accounts: AccountService) -> None:
        self.accounts = accounts
        self.users = accounts.users

    async def find(self, ref: str) -> UserRecord:
        """The account named by `ref`: a numeric id or a username (usernames start with
        a letter, so the two never clash), whatever its status; else 1004."""
        ref = ref.strip()
        if ref.isascii() and ref.isdecimal():
            user_id = int(ref)
            user = await self.users.get(user_id) if 0 < user_id < MAX_ID else None
        else:
            user = await self.users.by_username(ref)
        if user is None:
            raise ImError(USER_NOT_FOUND, f"no user {ref!r}", 404)
        return user

    async def create(
        self, *, username: Any, password: Any, nickname: Any = None, phone: Any = None
    ) -> UserRecord:
        """An active account; the REST checks apply (1001/1005 duplicates, 1007 policy)."""
        username = userfields.check_username(username)
        passwords.check_policy(password)
        nickname = username if nickname is None else userfields.check_nickname(nickname)
        phone = None if phone is None else userfields.check_phone(phone)
        hashed = await passwords.hash_password(password, self.accounts.config.auth.bcrypt_rounds)
        return await self.accounts.create_user(username, hashed, nickname, phone)

    async def disable(self, user: UserRecord) -> int:
        """Disable and end every token and session; returns the tokens revoked."""
        return await self.accounts.disable_user(user.id)

    async def enable(self, user: UserRecord) -> None:
        """Let a disabled account log in again (its old tokens stay revoked)."""
        try:
            await self.users.set_status(user.id, STATUS_ACTIVE)
        except NotFoundInStore:
            raise ImError(USER_NOT_FOUND, f"no user {user.id}", 404) from None

    async def reset_password(self, user: UserRecord, password: Any) -> int:
        """Set a new password (policy checked), then end every token and session of the
        user, as a password change elsewhere would; returns the tokens revoked."""
        passwords.check_policy(password)
        hashed = await passwords.hash_password(password, self.accounts.config.auth.bcrypt_rounds)
        try:
            await self.users.set_password(user.id, hashed)
        except NotFoundInStore:
            raise ImError(USER_NOT_FOUND, f"no user {user.id}", 404) from None
        return await self.accounts.end_sessions(user.id, "password reset")

    async def revoke(self, user: UserRecord) -> int:
        """End every token and session of the user (the password stays); returns the
        tokens revoked."""
        return await self.accounts.revoke_credentials(user.id, "sessions revoked")

    async def list_users(self, page: int, size: int, status: str | None = None) -> UserPage:
        """Page `page` (from 1) of `size` accounts in id order; `status` "active",
        "disabled" or None for both."""
        if page < 1:
            raise ImError(BAD_REQUEST, "page: must be 1 or more")
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ImError(BAD_REQUEST, f"size: must be 1 to {MAX_PAGE_SIZE}")
        code = {None: None, "active": STATUS_ACTIVE, "disabled": STATUS_DISABLED}.get(status, -1)
        if code == -1:
            raise ImError(BAD_REQUEST, "status: must be active or disabled")
        records = await self.users.list_page((page - 1) * size, size, code)
        return UserPage(records, await self.users.count(code), page, size)
