"""Limits on guessing passwords and on creating accounts, shared by every node (KV).

Failed logins are counted three ways, each a fixed window (stompim.im.ratelimit):

    per source address         auth.login_max_failures_per_ip in login_failure_window_seconds
    per account and source     auth.login_max_failures        in login_failure_window_seconds
    per account, any source    auth.login_max_failures_per_account
                                                              in login_account_window_seconds

The per-account-and-source lock is the one a user meets after mistyping: it only
locks that account from that address, so an attacker elsewhere cannot lock the owner
out. The global per-account limit is much higher and slower; it stops a spread-out
guessing of one account (many addresses, few tries each). A successful login clears
the account+source count only. REST logins and STOMP `login`+`passcode` CONNECTs are
counted alike (the broker hands the peer address to the authenticator). A login
without a known address (a local tool) counts under the source "-".

Registrations are counted per source address (auth.register_max_per_ip in
register_window_seconds), every attempt, so a script cannot mint accounts (nor make
the node hash passwords) without bound. SMS codes have their own per-phone and
per-address limits (stompim.im.sms).

Call order for a login: `check_address(ip)` first (before any database work), then
`check(account_key, ip)` before the password work, then `failed(...)` or
`succeeded(...)`. For a registration: `registering(ip)` first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stompim.im.ratelimit import FixedWindowLimiter, too_many

if TYPE_CHECKING:
    from stompim.config import AuthConfig
    from stompim.store import KeyValue

NO_SOURCE = "-"


class LoginLimits:
    def __init__(self, kv: KeyValue, auth: AuthConfig) -> None:
        window = auth.login_failure_window_seconds
        self._ip = FixedWindowLimiter(kv, "login-ip", auth.login_max_failures_per_ip, window)
        self._source = FixedWindowLimiter(
            kv, "login-account-source", auth.login_max_failures, window
        )
        self._account = FixedWindowLimiter(
            kv, "login-account", auth.login_max_failures_per_account,
            auth.login_account_window_seconds,
        )
        self._register = FixedWindowLimiter(
            kv, "register-ip", auth.register_max_per_ip, auth.register_window_seconds
        )

    @staticmethod
    def _pair(account: str, ip: str | None) -> str:
        return f"{account}|{ip or NO_SOURCE}"

    async def check_address(self, ip: str | None) -> None:
        """429 (9005) when this address is over its limit."""
        if ip and await self._ip.is_blocked(ip):
            raise too_many("too many failed logins from this address, try again later")

    async def check(self, account: str, ip: str | None) -> None:
        """429 (9005) when this account from this address, or this account from
        everywhere, is over its limit."""
        if await self._source.is_blocked(self._pair(account, ip)):
            raise too_many("too many failed logins for this account, try again later")
        if await self._account.is_blocked(account):
            raise too_many("too many failed logins for this account, try again later")

    async def failed(self, account: str, ip: str | None) -> None:
        await self._source.hit(self._pair(account, ip))
        await self._account.hit(account)
        if ip:
            await self._ip.hit(ip)

    async def succeeded(self, account: str, ip: str | None) -> None:
        await self._source.reset(self._pair(account, ip))

    async def registering(self, ip: str | None) -> None:
        """Count one registration attempt from `ip`; 429 when over the limit."""
        await self._register.hit_or_refuse(
            ip or NO_SOURCE, "too many registrations from this address, try again later"
        )
