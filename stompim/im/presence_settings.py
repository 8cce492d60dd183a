"""What a user may see of others' presence, and the setting that hides their own.

* `GET /api/user/online` (`online`): the flags of stompim.im.presence, except that a
  user who hides their presence shows offline to everyone else;
* `GET /api/user/last-seen` (`last_seen`): when a friend's last session ended, for
  friends only (null for strangers, hidden users and users never seen offline);
* `GET|PUT /api/user/presence` (`get` / `set_hidden`): the user's own setting.

Events to friends are sent by stompim.im.presence_events, which reads the same setting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from stompim.im.clock import Clock, now_ms
from stompim.im.ids import id_list
from stompim.store.presence import PresenceRepository

__all__ = ["PresenceSettings"]


class OnlineFlags(Protocol):
    async def online_status(self, ids: Iterable[int]) -> dict[int, bool]: ...


class FriendIds(Protocol):
    async def active_friend_ids(self, user_id: int, candidates: list[int]) -> set[int]: ...


class PresenceSettings:
    def __init__(
        self, repo: PresenceRepository, accounts: OnlineFlags, friends: FriendIds,
        clock: Clock = now_ms,
    ) -> None:
        self.repo = repo
        self.accounts = accounts
        self.friends = friends
        self.clock = clock

    async def get(self, user_id: int) -> dict[str, Any]:
        return {"hidePresence": await self.repo.hidden(user_id)}

    async def set_hidden(self, user_id: int, hidden: bool) -> dict[str, Any]:
        await self.repo.set_hidden(user_id, hidden, self.clock())
        return {"hidePresence": hidden}

    async def online(self, viewer_id: int, ids: Iterable[int]) -> dict[int, bool]:
        flags = await self.accounts.online_status(ids)
        rows = await self.repo.of_users(flags)
        return {
            uid: on and (uid == viewer_id or not rows.get(uid, (False, 0))[0])
            for uid, on in flags.items()
        }

    async def last_seen(self, viewer_id: int, ids: Iterable[int]) -> dict[int, int | None]:
        wanted = list(dict.fromkeys(id_list(list(ids), "ids")))
        friends = await self.friends.active_friend_ids(viewer_id, wanted)
        friends.add(viewer_id)
        rows = await self.repo.of_users([u for u in wanted if u in friends])
        out: dict[int, int | None] = {}
        for uid in wanted:
            hidden, seen = rows.get(uid, (False, 0))
            visible = uid in friends and (uid == viewer_id or not hidden)
            out[uid] = seen if visible and seen > 0 else None
        return out
