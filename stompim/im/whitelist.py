"""The group whitelist: friends a user pulls into every group they create with
`useWhitelist`, without invitations. Only current friends can be listed; a listed
user who stopped being a friend is skipped at group creation (GroupService.create
re-checks friendship) and shown with `friend: false` here.
"""

from __future__ import annotations

from typing import Any

from stompim.im.clock import Clock, now_ms
from stompim.im.errors import CANNOT_ADD_SELF, NOT_FRIENDS, ImError
from stompim.im.friends import user_summary
from stompim.im.ids import id_value
from stompim.store.database import Database
from stompim.store.friends import FriendRepository
from stompim.store.users import UserRepository


class WhitelistService:
    def __init__(
        self, db: Database, *, users: UserRepository | None = None, clock: Clock = now_ms
    ) -> None:
        self.repo = FriendRepository(db)
        self.users = users or UserRepository(db)
        self.clock = clock

    async def entries(self, user_id: int) -> list[dict[str, Any]]:
        entries = await self.repo.whitelist(user_id)
        ids = [uid for uid, _ in entries]
        users = await self.users.get_many(ids)
        friends = await self.repo.active_friend_ids(user_id, ids)
        return [
            {"userId": uid, "addedAt": at, "friend": uid in friends,
             "user": user_summary(users.get(uid), uid)}
            for uid, at in entries
        ]

    async def ids(self, user_id: int) -> list[int]:
        return [uid for uid, _ in await self.repo.whitelist(user_id)]

    async def add(self, user_id: int, member_id: int) -> None:
        member_id = id_value(member_id, "userId")
        if member_id == user_id:
            raise ImError(CANNOT_ADD_SELF, "cannot whitelist yourself", 400)
        if await self.repo.get_friend(user_id, member_id) is None:
            raise ImError(NOT_FRIENDS, "only friends can be whitelisted", 403)
        await self.repo.whitelist_add(user_id, member_id, self.clock())

    async def remove(self, user_id: int, member_id: int) -> None:
        member_id = id_value(member_id, "userId")
        await self.repo.whitelist_remove(user_id, member_id)
