"""The node's periodic re-check of its live STOMP sessions against the accounts.

Ending a user's credentials (password change, disable, admin revocation, single-session
login, DELETE /api/user/sessions/{id}) closes the live sessions at once through the
publisher, on every node when Redis carries the control. What that cannot reach is
caught here, every `auth.session_check_ms`:

* a change made from another process without Redis (`stompim user disable` on the
  embedded default: the CLI shares the database, not the node's in-process store);
* a user deleted or disabled directly in the database;
* a control lost on the way, or a session that was authenticating while its
  credentials were being ended (it joined after the close went out).

A session is closed when its user is missing or disabled, when it was opened with a
token whose session is gone from the registry (or belongs to an older credential
generation), or when it was opened with login+password under an older generation.

One database query per 500 connected users and one registry read per connected user
per round. A round that meets an unavailable database or Redis is skipped (logged):
live sessions are never closed because a dependency is down.

Call order: `SessionCheck(broker, accounts, interval)`; `start()` runs the loop as a
task, `close()` cancels it; `check_once()` is one round (tests call it directly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from stompim.broker import Broker
from stompim.broker.auth import Principal
from stompim.errors import StompimError
from stompim.im.accounts import ACTIVE, AccountService
from stompim.im.tokens import SessionEntry

__all__ = ["SessionCheck"]

log = logging.getLogger(__name__)

CHUNK = 500


class SessionCheck:
    def __init__(self, broker: Broker, accounts: AccountService, interval: float) -> None:
        self._broker = broker
        self._accounts = accounts
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                closed = await self.check_once()
            except StompimError as exc:   # Unavailable / StoreError: skip this round
                log.warning("session check skipped: %s", exc)
                continue
            except Exception:
                log.exception("session check failed")
                continue
            if closed:
                log.info("session check closed %d session(s)", closed)

    async def check_once(self) -> int:
        """One round over every user connected here; returns the sessions closed."""
        users = [u for u in self._broker.connected_users() if u > 0]  # not anonymous
        closed = 0
        for start in range(0, len(users), CHUNK):
            chunk = users[start:start + CHUNK]
            records = await self._accounts.users.get_many(chunk)
            for user_id in chunk:
                record = records.get(user_id)
                if record is None or record.status != ACTIVE:
                    closed += self._broker.close_sessions_where(
                        user_id, "account disabled", _always
                    )
                    continue
                closed += await self._check_user(user_id, record.credential_gen)
        return closed

    async def _check_user(self, user_id: int, generation: int) -> int:
        principals = self._broker.principals_of(user_id)
        entries: dict[str, SessionEntry | None] = {}
        if any(p.token_id for p in principals):
            raw = await self._accounts.tokens.registry(user_id)
            entries = {sid: SessionEntry.decode(sid, value) for sid, value in raw.items()}

        def stale(principal: Principal) -> bool:
            if principal.token_id is None:
                return False          # not opened by the accounts' authenticator
            if principal.token_id == "":  # login+password
                return principal.generation < generation
            entry = entries.get(principal.token_id)
            return entry is None or entry.gen < generation

        return self._broker.close_sessions_where(user_id, "credentials ended", stale)


def _always(principal: Principal) -> bool:
    return True
