"""Typing indicators: short-lived "X is typing" signals, never stored.

A client reports `start` / `stop` for one conversation (STOMP: SEND to
``/app/chat/typing``). The service decides whether the signal goes out and to whom;
the Publisher renders it (`Publisher.typing`): a private chat's peer hears it on their
chat queue, a group's members on the group's chat topic (the destination only active
members may subscribe to, so only members online hear it).

Rules, in the order `signal` applies them:
  1. per session budget: at most `session_limit` signals per `session_window_ms`
     (every state, every conversation) -- over it the signal is dropped
     (`dropped_rate_limited`) before any database work;
  2. rights: the user must take part in the conversation (private participant, active
     group member); a private chat with a block either way, or a muted group member,
     is not allowed. Either way the signal is dropped silently (`dropped_not_member`,
     `dropped_not_allowed`): typing is not worth an error, and a stranger learns nothing;
  3. `start`: forwarded unless this session forwarded a `start` for the conversation
     less than `min_interval_ms` ago (`dropped_redundant`; the expiry still moves on);
     `stop`: forwarded only when a `start` of this session is active
     (else `dropped_redundant`).

Expiry, both sides: every forwarded event carries `ttlMs`; a receiver drops the
indicator `ttlMs` after the last `start` it saw. The server also sends `stop` itself
(`"reason": "expired"`) when `ttl_ms` passes after the last `start` of a session with
no `stop` (a closed tab, a lost connection); that timer lives on the node that received
the `start`, and is lost if the node stops (the receivers' ttl still ends it).

Call order: `TypingService(...)`, `await signal(...)` per client signal (the binding),
`close()` at shutdown (cancels pending expiries). Time: `clock` (epoch ms) for the
rate rules and `schedule(delay_s, callback)` for expiries, both injectable for tests.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from stompim.errors import StompimError
from stompim.im.clock import Cancellable, Clock, Schedule, call_later, now_ms
from stompim.im.errors import BAD_REQUEST, ImError
from stompim.im.messages import ChatType
from stompim.store.conversations import ConversationRecord

__all__ = ["TypingEvent", "TypingService", "TypingStats", "parse_signal"]

log = logging.getLogger(__name__)

STATES = ("start", "stop")
MAX_TRACKED = 100_000
"""Sessions (and session x conversation pairs) remembered at most; beyond, old ones go."""


@dataclass(frozen=True)
class TypingEvent:
    """One typing event as the receivers get it (`body()` is its JSON)."""

    conversation_id: int
    chat_type: ChatType
    target_id: int
    """The peer (private) or the group (group) the event goes to."""
    user_id: int
    state: str
    ttl_ms: int
    at: int
    reason: str | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event": "typing",
            "conversationId": self.conversation_id,
            "chatType": self.chat_type.label,
            "userId": self.user_id,
            "state": self.state,
            "ttlMs": self.ttl_ms,
            "at": self.at,
        }
        if self.chat_type is ChatType.GROUP:
            out["groupId"] = self.target_id
        if self.reason is not None:
            out["reason"] = self.reason
        return out


class TypingPublisher(Protocol):
    async def typing(self, event: TypingEvent) -> None: ...


class Access(Protocol):
    """What typing needs from the conversation service (ConversationService)."""

    async def require_access(self, user_id: int, conversation_id: int) -> ConversationRecord: ...


class Rights(Protocol):
    async def blocked_either(self, a: int, b: int) -> bool: ...


class Members(Protocol):
    async def member(self, group_id: int, user_id: int) -> Any: ...


@dataclass
class TypingStats:
    forwarded: int = 0
    expired: int = 0
    dropped_rate_limited: int = 0
    dropped_not_member: int = 0
    dropped_not_allowed: int = 0
    dropped_redundant: int = 0
    dropped_failed: int = 0

    def metrics(self) -> dict[str, int]:
        return {f"typing_{k}": v for k, v in asdict(self).items()}


def parse_signal(data: Any) -> tuple[int, str]:
    """(conversationId, state) of a client's JSON body; ImError 9001 if malformed."""
    if not isinstance(data, dict):
        raise ImError(BAD_REQUEST, "the typing body must be a JSON object", 400)
    cid = data.get("conversationId")
    if isinstance(cid, str) and cid.isascii() and cid.isdigit() and len(cid) <= 19:
        cid = int(cid)
    if isinstance(cid, bool) or not isinstance(cid, int) or not 1 <= cid < 2**63:
        raise ImError(BAD_REQUEST, "conversationId: a positive integer is required", 400)
    state = data.get("state", "start")
    if state not in STATES:
        raise ImError(BAD_REQUEST, 'state: "start" or "stop"', 400)
    return cid, str(state)


@dataclass
class _Active:
    """A forwarded `start` of one session in one conversation, until stop/expiry."""

    event: TypingEvent
    forwarded_at: int
    timer: Cancellable | None = None


class TypingService:
    def __init__(
        self,
        *,
        access: Access,
        friends: Rights,
        groups: Members,
        publisher: TypingPublisher,
        ttl_ms: int = 6000,
        min_interval_ms: int = 3000,
        session_limit: int = 20,
        session_window_ms: int = 10_000,
        clock: Clock = now_ms,
        schedule: Schedule = call_later,
    ) -> None:
        self.access = access
        self.friends = friends
        self.groups = groups
        self.publisher = publisher
        self.ttl_ms = ttl_ms
        self.min_interval_ms = min_interval_ms
        self.session_limit = session_limit
        self.session_window_ms = session_window_ms
        self.clock = clock
        self.schedule = schedule
        self.stats = TypingStats()
        self._windows: dict[str, tuple[int, int]] = {}  # session -> (window start, count)
        self._active: dict[tuple[str, int], _Active] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the rules ------------------------------------------------------------------

    async def signal(self, user_id: int, session: str, conversation_id: int, state: str) -> bool:
        """Apply one client signal (see the module docstring); True when forwarded.
        `session` names the client session (the binding: user and login token)."""
        if state not in STATES:
            raise ImError(BAD_REQUEST, 'state: "start" or "stop"', 400)
        if not self._within_budget(session):
            self.stats.dropped_rate_limited += 1
            return False
        key = (session, conversation_id)
        active = self._active.get(key)
        now = self.clock()
        if state == "stop":
            if active is None:
                self.stats.dropped_redundant += 1
                return False
            self._end(key)
            await self._publish(self._event(active.event, "stop", now))
            return True
        if active is not None and now - active.forwarded_at < self.min_interval_ms:
            self._arm(key, active)  # still typing: the server's expiry moves on
            self.stats.dropped_redundant += 1
            return False
        conv = await self._allowed(user_id, conversation_id)
        if conv is None:
            return False
        event = TypingEvent(
            conversation_id=conv.id,
            chat_type=conv.chat_type,
            target_id=conv.target_for(user_id),
            user_id=user_id,
            state="start",
            ttl_ms=self.ttl_ms,
            at=now,
        )
        entry = self._active.get(key) or _Active(event, now)
        entry.event, entry.forwarded_at = event, now
        self._remember(key, entry)
        self._arm(key, entry)
        await self._publish(event)
        return True

    def _within_budget(self, session: str) -> bool:
        now = self.clock()
        start, count = self._windows.get(session, (now, 0))
        if now - start >= self.session_window_ms:
            start, count = now, 0
        if count >= self.session_limit:
            return False
        if session not in self._windows and len(self._windows) >= MAX_TRACKED:
            self._prune_windows(now)
        self._windows[session] = (start, count + 1)
        return True

    def _prune_windows(self, now: int) -> None:
        for name, (start, _) in list(self._windows.items()):
            if now - start >= self.session_window_ms:
                del self._windows[name]
        while len(self._windows) >= MAX_TRACKED:
            del self._windows[next(iter(self._windows))]

    async def _allowed(self, user_id: int, conversation_id: int) -> ConversationRecord | None:
        try:
            conv = await self.access.require_access(user_id, conversation_id)
            if conv.chat_type is ChatType.PRIVATE:
                if await self.friends.blocked_either(user_id, conv.peer_of(user_id)):
                    self.stats.dropped_not_allowed += 1
                    return None
            elif conv.group_id is not None:
                member = await self.groups.member(conv.group_id, user_id)
                if member is None:
                    self.stats.dropped_not_member += 1
                    return None
                if bool(getattr(member, "muted", False)):
                    self.stats.dropped_not_allowed += 1
                    return None
        except ImError:
            self.stats.dropped_not_member += 1
            return None
        except StompimError as exc:  # the database away: typing is not worth waiting for
            log.debug("typing dropped: %s", exc)
            self.stats.dropped_failed += 1
            return None
        return conv

    # -- expiry -----------------------------------------------------------------------

    def _remember(self, key: tuple[str, int], entry: _Active) -> None:
        if key not in self._active and len(self._active) >= MAX_TRACKED:
            oldest = next(iter(self._active))
            self._end(oldest)
        self._active[key] = entry

    def _arm(self, key: tuple[str, int], entry: _Active) -> None:
        if entry.timer is not None:
            entry.timer.cancel()
        entry.timer = self.schedule(self.ttl_ms / 1000, lambda: self._expired(key, entry))

    def _end(self, key: tuple[str, int]) -> _Active | None:
        entry = self._active.pop(key, None)
        if entry is not None and entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None
        return entry

    def _expired(self, key: tuple[str, int], entry: _Active) -> None:
        if self._active.get(key) is not entry:
            return
        self._active.pop(key, None)
        entry.timer = None
        self.stats.expired += 1
        event = self._event(entry.event, "stop", self.clock(), reason="expired")
        task = asyncio.get_running_loop().create_task(self._publish(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _event(
        self, base: TypingEvent, state: str, now: int, reason: str | None = None
    ) -> TypingEvent:
        return TypingEvent(base.conversation_id, base.chat_type, base.target_id,
                           base.user_id, state, self.ttl_ms, now, reason)

    async def _publish(self, event: TypingEvent) -> None:
        self.stats.forwarded += 1
        await self.publisher.typing(event)

    @property
    def active(self) -> int:
        """Typing indicators this node will expire (for tests and metrics)."""
        return len(self._active)

    def close(self) -> None:
        for key in list(self._active):
            self._end(key)
        for task in list(self._tasks):
            task.cancel()
