"""Test helpers for the chat tests: an in-memory social layer, a recording publisher,
a counting Database wrapper and a settable clock.

The in-memory social services implement the FriendChecks / GroupChecks / UserLookup
protocols of stompim.im.conversations with plain dicts: real behaviour, no mocks,
so chat's own rules can be tested before (and independently of) the SQL social
services. The Database wrapper wraps the real database and only counts writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from stompim.im.errors import GROUP_NOT_FOUND, NOT_GROUP_MEMBER, ImError
from stompim.stomp.publisher import StompPublisher


@dataclass(frozen=True)
class User:
    id: int
    username: str
    nickname: str
    avatar: str = ""


@dataclass(frozen=True)
class Group:
    id: int
    name: str
    avatar: str = ""
    all_muted: bool = False
    owner_id: int = 0


@dataclass(frozen=True)
class Member:
    group_id: int
    user_id: int
    role: int = 0
    muted: bool = False
    joined_at: int = 0


class Clock:
    """Epoch ms that tests move by hand; each read advances 1 ms so timestamps differ."""

    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@dataclass
class Social:
    """Friends, blocks, groups and users in dicts (IM_API.md method names)."""

    users: dict[int, User] = field(default_factory=dict)
    friends: set[tuple[int, int]] = field(default_factory=set)
    blocks: set[tuple[int, int]] = field(default_factory=set)
    mutes: set[tuple[int, int]] = field(default_factory=set)
    groups: dict[int, Group] = field(default_factory=dict)
    members: dict[tuple[int, int], Member] = field(default_factory=dict)

    # set-up helpers
    def add_user(self, uid: int) -> None:
        self.users[uid] = User(uid, f"user{uid}", f"User {uid}", f"http://a/{uid}.png")

    def befriend(self, a: int, b: int) -> None:
        self.friends |= {(a, b), (b, a)}

    def add_group(self, gid: int, owner: int, members: Sequence[int], joined_at: int = 0) -> None:
        self.groups[gid] = Group(gid, f"Group {gid}", f"http://g/{gid}.png", owner_id=owner)
        self.members[(gid, owner)] = Member(gid, owner, role=2, joined_at=joined_at)
        for uid in members:
            if uid != owner:
                self.members[(gid, uid)] = Member(gid, uid, joined_at=joined_at)

    def set_member(self, gid: int, uid: int, **changes: Any) -> None:
        self.members[(gid, uid)] = replace(self.members[(gid, uid)], **changes)

    # FriendChecks
    async def is_friend(self, user_id: int, other_id: int) -> bool:
        return (user_id, other_id) in self.friends

    async def is_blocked(self, by_user_id: int, target_id: int) -> bool:
        return (by_user_id, target_id) in self.blocks

    async def blocked_either(self, a: int, b: int) -> bool:
        return (a, b) in self.blocks or (b, a) in self.blocks

    async def friend_muted(self, user_id: int, friend_id: int) -> bool:
        return (user_id, friend_id) in self.mutes

    # GroupChecks
    async def get(self, group_id: int) -> Group | None:
        return self.groups.get(group_id)

    async def member(self, group_id: int, user_id: int) -> Member | None:
        if group_id not in self.groups:
            return None
        return self.members.get((group_id, user_id))

    async def require_member(self, group_id: int, user_id: int) -> Member:
        if group_id not in self.groups:
            raise ImError(GROUP_NOT_FOUND, "group not found", 404)
        found = self.members.get((group_id, user_id))
        if found is None:
            raise ImError(NOT_GROUP_MEMBER, "not a member of the group", 403)
        return found

    async def member_ids(self, group_id: int) -> list[int]:
        return [uid for (gid, uid) in self.members if gid == group_id]

    async def groups_of(self, user_id: int) -> list[int]:
        return [gid for (gid, uid) in self.members if uid == user_id]

    # UserLookup
    async def get_many(self, ids: Any) -> dict[int, User]:
        return {i: self.users[i] for i in ids if i in self.users}


class Recorder:
    """The broker's side of publishing: keeps what was published, in order."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(
        self, destination: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        self.published.append((destination, body, dict(headers or {})))

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        return None

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        return None


class RecordingPublisher(StompPublisher):
    """The STOMP binding's Publisher over a Recorder: what the domain's events become
    on the wire (destinations, headers, bodies), without a broker."""

    def __init__(self, recorder: Recorder | None = None) -> None:
        self.recorder = recorder or Recorder()
        super().__init__(self.recorder)
        self.published = self.recorder.published

    def to(self, destination: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
        return [(orjson.loads(b), h) for d, b, h in self.published if d == destination]

    def clear(self) -> None:
        self.published.clear()


class _CountingTx:
    def __init__(self, inner: Any, owner: CountingDatabase) -> None:
        self._inner = inner
        self._owner = owner

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._inner.fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._inner.fetch_all(sql, params)

    async def fetch_val(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._inner.fetch_val(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._owner.writes += 1
        return await self._inner.execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        self._owner.writes += len(rows)
        return await self._inner.executemany(sql, rows)


class CountingDatabase(_CountingTx):
    """The real Database, counting write statements (executemany counts each row)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner, self)
        self.dialect = inner.dialect
        self.writes = 0

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[_CountingTx]:
        async with self._inner.transaction() as tx:
            yield _CountingTx(tx, self)

    async def close(self) -> None:
        await self._inner.close()
