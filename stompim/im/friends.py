"""Friends: requests, friendships (remark, do-not-disturb), the blacklist.

Rules (issue 4): no request to yourself (2004), to a friend (2001), while one is
pending (2002), or between users where either blocked the other (2005). A request
to someone whose own request to you is pending accepts theirs, so crossed requests
end as one friendship. Accepting changes the request and creates or restores both
friend rows in one transaction; accepting twice is harmless.

Notifications go out after the change is committed (FRIEND_REQUEST to the
receiver, FRIEND_ACCEPTED / FRIEND_REJECTED to the sender).
"""

from __future__ import annotations

from typing import Any

from stompim.errors import DuplicateKey
from stompim.im.clock import Clock, now_ms
from stompim.im.errors import (
    ALREADY_FRIENDS,
    BAD_REQUEST,
    BLOCKED,
    CANNOT_ADD_SELF,
    NOT_FRIENDS,
    REQUEST_NOT_FOUND,
    REQUEST_PENDING,
    USER_NOT_FOUND,
    ImError,
)
from stompim.im.ids import id_value
from stompim.im.notifications import NotificationService, NotificationType
from stompim.im.paging import MAX_LIMIT, Page, check_window, window
from stompim.store.database import Database
from stompim.store.friends import (
    ACCEPTED,
    PENDING,
    REJECTED,
    FriendRepository,
    FriendRequestRecord,
)
from stompim.store.users import UserRecord, UserRepository

MAX_REQUEST_MESSAGE = 255
MAX_REMARK = 64


def user_summary(user: UserRecord | None, user_id: int) -> dict[str, Any]:
    """The small profile embedded in lists (friend, request, member, blacklist)."""
    if user is None:
        return {"id": user_id, "username": "", "nickname": "", "avatar": ""}
    return {
        "id": user.id,
        "username": user.username,
        "nickname": user.nickname,
        "avatar": user.avatar,
    }


async def display_name(users: UserRepository, user_id: int) -> str:
    """How notifications name a user: nickname, else username, else the id."""
    user = await users.get(user_id)
    return (user.nickname or user.username) if user else str(user_id)


def request_json(req: FriendRequestRecord) -> dict[str, Any]:
    return {
        "id": req.id,
        "fromUserId": req.from_user_id,
        "toUserId": req.to_user_id,
        "message": req.message,
        "status": req.status,
        "createdAt": req.created_at,
        "updatedAt": req.updated_at,
    }


class FriendService:
    def __init__(
        self,
        db: Database,
        notifications: NotificationService,
        *,
        users: UserRepository | None = None,
        clock: Clock = now_ms,
    ) -> None:
        self.db = db
        self.repo = FriendRepository(db)
        self.users = users or UserRepository(db)
        self.notifications = notifications
        self.clock = clock

    # -- contract used by chat -------------------------------------------------------

    async def is_friend(self, user_id: int, other_id: int) -> bool:
        return await self.repo.get_friend(user_id, other_id) is not None

    async def is_blocked(self, by_user_id: int, target_id: int) -> bool:
        return await self.repo.is_blocked(by_user_id, target_id)

    async def blocked_either(self, a: int, b: int) -> bool:
        return await self.repo.blocked_either(a, b)

    async def friend_muted(self, user_id: int, friend_id: int) -> bool:
        friend = await self.repo.get_friend(user_id, friend_id)
        return friend is not None and friend.muted

    # -- requests ----------------------------------------------------------------------

    async def _require_user(self, user_id: int) -> UserRecord:
        user = await self.users.get(user_id)
        if user is None or user.status != 1:
            raise ImError(USER_NOT_FOUND, "user not found", 404)
        return user

    async def send_request(self, from_id: int, to_id: int, message: str = "") -> dict[str, Any]:
        """Create a pending request, or accept the receiver's pending one to us.

        Returns the request JSON; its `status` is 1 when the call made a friendship.
        """
        to_id = id_value(to_id, "toUserId")
        if len(message) > MAX_REQUEST_MESSAGE:
            raise ImError(BAD_REQUEST, f"message: at most {MAX_REQUEST_MESSAGE} characters")
        if from_id == to_id:
            raise ImError(CANNOT_ADD_SELF, "cannot add yourself", 400)
        sender = await self._require_user(from_id)
        await self._require_user(to_id)
        if await self.repo.blocked_either(from_id, to_id):
            raise ImError(BLOCKED, "blocked", 403)
        if await self.is_friend(from_id, to_id):
            raise ImError(ALREADY_FRIENDS, "already friends", 409)
        # Two tries: the second one runs after a concurrent request took the pair.
        for _ in range(2):
            theirs = await self.repo.pending_between(to_id, from_id)
            if theirs is not None:
                return await self.accept(from_id, theirs.id)
            if await self.repo.pending_between(from_id, to_id) is not None:
                raise ImError(REQUEST_PENDING, "friend request already pending", 409)
            try:
                req = await self.repo.insert_request(from_id, to_id, message, self.clock())
            except DuplicateKey:
                continue
            await self.notifications.notify(
                to_id,
                NotificationType.FRIEND_REQUEST,
                f"{sender.nickname or sender.username} wants to be your friend",
                {"requestId": req.id, "fromUserId": from_id, "message": message},
            )
            return request_json(req)
        if await self.is_friend(from_id, to_id):
            raise ImError(ALREADY_FRIENDS, "already friends", 409)
        raise ImError(REQUEST_PENDING, "friend request already pending", 409)

    async def _with_users(self, reqs: list[FriendRequestRecord], key: str) -> list[dict[str, Any]]:
        ids = {r.from_user_id if key == "fromUser" else r.to_user_id for r in reqs}
        users = await self.users.get_many(ids)
        out = []
        for r in reqs:
            other = r.from_user_id if key == "fromUser" else r.to_user_id
            out.append(request_json(r) | {key: user_summary(users.get(other), other)})
        return out

    async def received_requests(
        self, user_id: int, *, offset: int = 0, limit: int = MAX_LIMIT
    ) -> Page[dict[str, Any]]:
        """Requests sent to `user_id`, newest first, with the sender's summary."""
        check_window(offset, limit, MAX_LIMIT)
        reqs = await self.repo.received(user_id)
        return Page(await self._with_users(window(reqs, offset, limit), "fromUser"), len(reqs))

    async def sent_requests(
        self, user_id: int, *, offset: int = 0, limit: int = MAX_LIMIT
    ) -> Page[dict[str, Any]]:
        """Requests `user_id` sent, newest first, with the receiver's summary."""
        check_window(offset, limit, MAX_LIMIT)
        reqs = await self.repo.sent(user_id)
        return Page(await self._with_users(window(reqs, offset, limit), "toUser"), len(reqs))

    async def _lock_request_to(self, tx: Any, user_id: int, request_id: int) -> FriendRequestRecord:
        """The request addressed to `user_id`, locked in `tx`; anyone else's is not found."""
        req = await self.repo.lock_request(tx, request_id)
        if req is None or req.to_user_id != user_id:
            raise ImError(REQUEST_NOT_FOUND, "friend request not found", 404)
        return req

    @staticmethod
    def _require_pending(req: FriendRequestRecord) -> None:
        if req.status != PENDING:
            raise ImError(REQUEST_NOT_FOUND, "friend request already handled", 409)

    async def accept(self, user_id: int, request_id: int) -> dict[str, Any]:
        """The receiver accepts; a second accept returns the same accepted request."""
        request_id = id_value(request_id, "requestId")
        async with self.db.transaction() as tx:
            req = await self._lock_request_to(tx, user_id, request_id)
            if req.status == ACCEPTED:
                return request_json(req)
            self._require_pending(req)
            if await self.repo.blocked_either(req.from_user_id, user_id, tx):
                raise ImError(BLOCKED, "blocked", 403)
            now = self.clock()
            await self.repo.set_request_status(tx, request_id, ACCEPTED, now)
            await self.repo.make_friends(tx, req.from_user_id, user_id, now)
        name = await display_name(self.users, user_id)
        await self.notifications.notify(
            req.from_user_id,
            NotificationType.FRIEND_ACCEPTED,
            f"{name} accepted your friend request",
            {"requestId": req.id, "userId": user_id},
        )
        return request_json(req) | {"status": ACCEPTED, "updatedAt": now}

    async def reject(self, user_id: int, request_id: int) -> dict[str, Any]:
        request_id = id_value(request_id, "requestId")
        async with self.db.transaction() as tx:
            req = await self._lock_request_to(tx, user_id, request_id)
            if req.status == REJECTED:
                return request_json(req)
            self._require_pending(req)
            now = self.clock()
            await self.repo.set_request_status(tx, request_id, REJECTED, now)
        name = await display_name(self.users, user_id)
        await self.notifications.notify(
            req.from_user_id,
            NotificationType.FRIEND_REJECTED,
            f"{name} declined your friend request",
            {"requestId": req.id, "userId": user_id},
        )
        return request_json(req) | {"status": REJECTED, "updatedAt": now}

    # -- friendships ---------------------------------------------------------------------

    async def list_friends(self, user_id: int) -> list[dict[str, Any]]:
        friends = await self.repo.friends_of(user_id)
        users = await self.users.get_many(f.friend_id for f in friends)
        out = []
        for f in friends:
            u = users.get(f.friend_id)
            out.append(
                {
                    "friendId": f.friend_id,
                    "username": u.username if u else "",
                    "nickname": u.nickname if u else "",
                    "avatar": u.avatar if u else "",
                    "signature": u.signature if u else "",
                    "remark": f.remark,
                    "muted": f.muted,
                    "createdAt": f.created_at,
                }
            )
        return out

    async def delete_friend(self, user_id: int, friend_id: int) -> None:
        """Soft-delete both directions; a later accepted request restores them."""
        friend_id = id_value(friend_id, "friendId")
        if await self.repo.delete_friendship(user_id, friend_id, self.clock()) == 0:
            raise ImError(NOT_FRIENDS, "not friends", 404)

    async def set_remark(self, user_id: int, friend_id: int, remark: str) -> None:
        friend_id = id_value(friend_id, "friendId")
        if len(remark) > MAX_REMARK:
            raise ImError(BAD_REQUEST, f"remark: at most {MAX_REMARK} characters")
        if not await self.is_friend(user_id, friend_id):
            raise ImError(NOT_FRIENDS, "not friends", 404)
        await self.repo.set_remark(user_id, friend_id, remark, self.clock())

    async def set_muted(self, user_id: int, friend_id: int, muted: bool) -> None:
        friend_id = id_value(friend_id, "friendId")
        if not await self.is_friend(user_id, friend_id):
            raise ImError(NOT_FRIENDS, "not friends", 404)
        await self.repo.set_muted(user_id, friend_id, muted, self.clock())

    # -- blacklist -------------------------------------------------------------------------

    async def block(self, user_id: int, target_id: int) -> None:
        """Stops new requests and private messages between the two (either way)."""
        target_id = id_value(target_id, "userId")
        if user_id == target_id:
            raise ImError(CANNOT_ADD_SELF, "cannot block yourself", 400)
        await self._require_user(target_id)
        await self.repo.block(user_id, target_id, self.clock())

    async def unblock(self, user_id: int, target_id: int) -> None:
        target_id = id_value(target_id, "userId")
        await self.repo.unblock(user_id, target_id)

    async def blacklist(
        self, user_id: int, *, offset: int = 0, limit: int = MAX_LIMIT
    ) -> Page[dict[str, Any]]:
        """Users `user_id` blocked, with their summaries."""
        check_window(offset, limit, MAX_LIMIT)
        entries = await self.repo.blocked_list(user_id)
        shown = window(entries, offset, limit)
        users = await self.users.get_many(uid for uid, _ in shown)
        records = [
            {"userId": uid, "blockedAt": at, "user": user_summary(users.get(uid), uid)}
            for uid, at in shown
        ]
        return Page(records, len(entries))
