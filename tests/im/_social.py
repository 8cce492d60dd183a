"""Shared helpers for the social-domain tests (friends, groups, whitelist, notifications).

`RecordingPublisher` is the real Publisher of the STOMP binding (StompPublisher) over a
recorder instead of a broker, so tests can assert what would have been pushed, where and
with which headers, without a broker. `build()` wires the
social services over a test database the way stompim.im.services does.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import bcrypt
import orjson

from stompim.config import ImConfig
from stompim.im.chat import ChatService
from stompim.im.friends import FriendService
from stompim.im.groups import GroupService
from stompim.im.notifications import NotificationService
from stompim.im.system_messages import SystemMessages
from stompim.im.whitelist import WhitelistService
from stompim.stomp.publisher import StompPublisher
from stompim.store import Database
from stompim.store.users import UserRecord, UserRepository

_HASH = bcrypt.hashpw(b"secret-pw", bcrypt.gensalt(rounds=4)).decode()
_names = itertools.count(1)


@dataclass
class Recorder:
    """The broker's side of publishing, recorded (what StompPublisher hands it)."""

    published: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    ended: list[tuple[int, str, str]] = field(default_factory=list)
    closed: list[tuple[int, str, str | None]] = field(default_factory=list)

    async def publish(
        self, destination: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        self.published.append((destination, orjson.loads(body), dict(headers or {})))

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        self.closed.append((user_id, reason, token_id))

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        self.ended.append((user_id, destination, reason))


class RecordingPublisher(StompPublisher):
    def __init__(self) -> None:
        self.recorder = Recorder()
        super().__init__(self.recorder)
        self.published = self.recorder.published
        self.ended = self.recorder.ended
        self.closed = self.recorder.closed

    def types_for(self, user_id: int) -> list[str]:
        """Notification types pushed to `user_id`, in order."""
        dest = f"/queue/notification/{user_id}"
        return [body["type"] for d, body, _ in self.published if d == dest]


class FakeClock:
    """Epoch-ms clock the test moves by hand."""

    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1
        return self.now

    def advance_days(self, days: float) -> None:
        self.now += int(days * 24 * 3600 * 1000)


@dataclass
class Social:
    db: Database
    publisher: RecordingPublisher
    notifications: NotificationService
    friends: FriendService
    groups: GroupService
    whitelist: WhitelistService
    clock: FakeClock
    chat: ChatService | None = None


def build(
    db: Database, *, max_group_size: int = 500, ttl_days: int = 7, timeline: bool = False
) -> Social:
    """`timeline`: also a ChatService, attached so group events become system messages."""
    clock = FakeClock()
    pub = RecordingPublisher()
    notifications = NotificationService(db, pub, clock=clock)
    social = Social(
        db=db,
        publisher=pub,
        notifications=notifications,
        friends=FriendService(db, notifications, clock=clock),
        groups=GroupService(
            db, pub, notifications, max_group_size=max_group_size,
            invitation_ttl_days=ttl_days, clock=clock,
        ),
        whitelist=WhitelistService(db, clock=clock),
        clock=clock,
    )
    if timeline:
        social.chat = ChatService(
            config=ImConfig(), db=db, publisher=pub, friends=social.friends,
            groups=social.groups, users=UserRepository(db), clock=clock,
        )
        social.groups.attach_timeline(SystemMessages(social.chat))
    return social


async def make_users(db: Database, n: int) -> list[UserRecord]:
    repo = UserRepository(db)
    out = []
    for _ in range(n):
        i = next(_names)
        out.append(await repo.create(username=f"soc{i}", password_hash=_HASH, nickname=f"Nick{i}"))
    return out


async def befriend(s: Social, a: int, b: int) -> None:
    req = await s.friends.send_request(a, b, "hi")
    await s.friends.accept(b, req["id"])
