"""Models of /api/friend/* and /api/whitelist: requests, friends, blacklist, whitelist."""

from __future__ import annotations

from pydantic import Field

from stompim.http.fields import Flag, Id, Text
from stompim.http.models.base import Body, Headers, Path, Query, View
from stompim.im.friends import MAX_REMARK, MAX_REQUEST_MESSAGE

# -- requests --------------------------------------------------------------------------


class SendFriendRequest(Body):
    to_user_id: Id
    message: Text | None = Field(
        None,
        description="shown to the receiver",
        json_schema_extra={"maxLength": MAX_REQUEST_MESSAGE},
    )


class RemarkChange(Body):
    remark: Text | None = Field(
        None, description="null or empty clears it", json_schema_extra={"maxLength": MAX_REMARK}
    )


class MuteChange(Body):
    muted: Flag


class RequestIdPath(Path):
    request_id: Id


class FriendIdPath(Path):
    friend_id: Id


class UserIdPath(Path):
    user_id: Id


class CheckBlockedQuery(Query):
    user_id: Id
    target_id: Id


class InternalSecret(Headers):
    secret: str = Field(
        "", alias="X-Internal-Secret", description="auth.internal_secret; missing -> 403"
    )


# -- responses -------------------------------------------------------------------------


class UserSummary(View):
    id: int
    username: str
    nickname: str
    avatar: str


class FriendRequest(View):
    id: int
    from_user_id: int
    to_user_id: int
    message: str
    status: int = Field(description="0 pending, 1 accepted, 2 rejected")
    created_at: int
    updated_at: int


class ReceivedFriendRequest(FriendRequest):
    from_user: UserSummary


class SentFriendRequest(FriendRequest):
    to_user: UserSummary


class Friend(View):
    friend_id: int
    username: str
    nickname: str
    avatar: str
    signature: str
    remark: str
    muted: bool = Field(description="do-not-disturb for this friend")
    created_at: int


class BlockedUser(View):
    user_id: int
    blocked_at: int
    user: UserSummary


class BlockState(View):
    blocked: bool = Field(description="either user blocked the other")
    user_blocked_target: bool
    target_blocked_user: bool


class WhitelistEntry(View):
    user_id: int
    added_at: int
    friend: bool = Field(description="false once the friendship ended (skipped at creation)")
    user: UserSummary
