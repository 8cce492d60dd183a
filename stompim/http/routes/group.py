"""/api/group/*: create, my groups, info, update, dissolve, members, invitations,
quit, kick, admin, owner transfer, group nickname.

Fixed paths (`/api/group/my`, `/api/group/invitation`) are registered before the
`/api/group/{groupId}` ones so they are matched first.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from stompim.http.api import ApiRoutes, Param
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.result import ok
from stompim.http.schema import BOOL, INT, STR, arr, obj, ref, s
from stompim.http.validation import (
    bad,
    int_list,
    json_body,
    path_id,
    require_bool,
    require_int,
    require_str,
)

_GROUP = obj(
    {
        "id": INT, "name": STR, "avatar": STR, "announcement": STR, "ownerId": INT,
        "memberCount": INT, "maxMembers": INT, "allMuted": BOOL, "allowMemberInvite": BOOL,
        "status": s(INT, description="1 active"), "createdAt": INT, "updatedAt": INT,
        "myRole": s(INT, enum=[0, 1, 2], description="0 member, 1 admin, 2 owner"),
        "myNickname": STR,
    }
)
_MEMBER = obj(
    {
        "userId": INT, "role": s(INT, enum=[0, 1, 2]), "groupNickname": STR, "muted": BOOL,
        "joinedAt": INT, "username": STR, "nickname": STR, "avatar": STR,
    }
)
_INVITATION = obj(
    {
        "id": INT, "groupId": INT, "inviterId": INT, "inviteeId": INT,
        "status": s(INT, enum=[0, 1, 2], description="0 pending, 1 accepted, 2 rejected"),
        "expiresAt": INT, "createdAt": INT, "updatedAt": INT,
        "groupName": STR, "groupAvatar": STR, "memberCount": INT, "inviter": ref("UserSummary"),
    }
)
routes = ApiRoutes(
    "group", components={"Group": _GROUP, "GroupMember": _MEMBER, "GroupInvitation": _INVITATION}
)
_GID = (Param("groupId", INT, True),)
_IID = (Param("invitationId", INT, True),)


def _me(request: web.Request) -> int:
    return request[CLAIMS].user_id


def _optional_bool(body: dict[str, Any], name: str) -> bool:
    return require_bool(body, name) if body.get(name) is not None else False


@routes.post(
    "/api/group",
    summary="Create a group; friends among memberIds join at once, others are invited",
    body=obj(
        {
            "name": s(STR, minLength=1, maxLength=64),
            "avatar": s(STR, maxLength=512),
            "announcement": s(STR, maxLength=1024),
            "memberIds": arr(INT),
            "useWhitelist": s(BOOL, description="also add my whitelisted friends"),
        },
        required=("name",),
    ),
    response=obj({"memberIds": arr(INT), "invitedUserIds": arr(INT)},
                 description="the Group fields plus these two"),
)
async def create(request: web.Request) -> web.Response:
    body = await json_body(request)
    member_ids = int_list(body, "memberIds") if body.get("memberIds") is not None else []
    if any(i <= 0 for i in member_ids):
        raise bad("memberIds: ids must be positive integers")
    avatar = body.get("avatar") or ""
    announcement = body.get("announcement") or ""
    return ok(await request.app[SERVICES].groups.create(
        _me(request), name=require_str(body, "name"), avatar=avatar, announcement=announcement,
        member_ids=member_ids, use_whitelist=_optional_bool(body, "useWhitelist"),
    ))


@routes.get("/api/group/my", summary="Groups I am a member of", response=arr(ref("Group")))
async def my_groups(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].groups.my_groups(_me(request)))


@routes.get("/api/group/invitation", summary="My pending, unexpired invitations",
            response=arr(ref("GroupInvitation")))
async def my_invitations(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].groups.invitations.pending(_me(request)))


@routes.post("/api/group/invitation/{invitationId}/accept",
             summary="Join the group (4004 when full, 4008 when expired)", path_params=_IID)
async def accept_invitation(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].groups.invitations.accept(
        _me(request), path_id(request, "invitationId")))


@routes.post("/api/group/invitation/{invitationId}/reject", summary="Decline an invitation",
             path_params=_IID)
async def reject_invitation(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].groups.invitations.reject(
        _me(request), path_id(request, "invitationId")))


@routes.get("/api/group/{groupId}", summary="Group info (members only)", path_params=_GID,
            response=ref("Group"))
async def info(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].groups.info(_me(request), path_id(request, "groupId")))


@routes.put(
    "/api/group/{groupId}",
    summary="Update a group (owner or admin); only the fields given change",
    path_params=_GID,
    body=obj({
        "name": s(STR, minLength=1, maxLength=64), "avatar": s(STR, maxLength=512),
        "announcement": s(STR, maxLength=1024), "allMuted": BOOL, "allowMemberInvite": BOOL,
    }),
    response=ref("Group"),
)
async def update(request: web.Request) -> web.Response:
    body = await json_body(request)
    group = await request.app[SERVICES].groups.update(
        _me(request), path_id(request, "groupId"), body)
    return ok(group.to_json())


@routes.delete("/api/group/{groupId}", summary="Dissolve a group (owner)", path_params=_GID)
async def dissolve(request: web.Request) -> web.Response:
    await request.app[SERVICES].groups.dissolve(_me(request), path_id(request, "groupId"))
    return ok()


@routes.get("/api/group/{groupId}/members", summary="Members with roles and group nicknames",
            path_params=_GID, response=arr(ref("GroupMember")))
async def members(request: web.Request) -> web.Response:
    return ok(await request.app[SERVICES].groups.members(_me(request), path_id(request, "groupId")))


@routes.post(
    "/api/group/{groupId}/invite",
    summary="Invite users (owner/admin; members when allowMemberInvite)",
    path_params=_GID,
    body=obj({"userIds": arr(INT)}, required=("userIds",)),
    response=arr(ref("GroupInvitation")),
)
async def invite(request: web.Request) -> web.Response:
    user_ids = int_list(await json_body(request), "userIds")
    return ok(await request.app[SERVICES].groups.invitations.invite(
        _me(request), path_id(request, "groupId"), user_ids))


@routes.post("/api/group/{groupId}/quit", summary="Leave (the owner must transfer first: 4007)",
             path_params=_GID)
async def quit_group(request: web.Request) -> web.Response:
    await request.app[SERVICES].groups.quit(_me(request), path_id(request, "groupId"))
    return ok()


@routes.delete(
    "/api/group/{groupId}/member/{userId}",
    summary="Kick a member (owner: anyone else; admin: plain members)",
    path_params=(*_GID, Param("userId", INT, True)),
)
async def kick(request: web.Request) -> web.Response:
    await request.app[SERVICES].groups.kick(
        _me(request), path_id(request, "groupId"), path_id(request, "userId"))
    return ok()


@routes.put(
    "/api/group/{groupId}/admin/{userId}",
    summary="Grant or revoke admin (owner)",
    path_params=(*_GID, Param("userId", INT, True)),
    body=obj({"admin": BOOL}, required=("admin",)),
)
async def set_admin(request: web.Request) -> web.Response:
    admin = require_bool(await json_body(request), "admin")
    await request.app[SERVICES].groups.set_admin(
        _me(request), path_id(request, "groupId"), path_id(request, "userId"), admin)
    return ok()


@routes.put("/api/group/{groupId}/owner", summary="Transfer ownership to a member (owner)",
            path_params=_GID, body=obj({"userId": INT}, required=("userId",)))
async def transfer(request: web.Request) -> web.Response:
    target = require_int(await json_body(request), "userId")
    if target <= 0:
        raise bad("userId: must be a positive integer")
    await request.app[SERVICES].groups.transfer(_me(request), path_id(request, "groupId"), target)
    return ok()


@routes.put("/api/group/{groupId}/nickname", summary="Set my nickname in the group",
            path_params=_GID, body=obj({"nickname": s(STR, maxLength=64)}, required=("nickname",)))
async def set_nickname(request: web.Request) -> web.Response:
    body = await json_body(request)
    nickname = body.get("nickname")
    if nickname is None:
        raise bad("nickname: is required")
    await request.app[SERVICES].groups.set_nickname(
        _me(request), path_id(request, "groupId"), nickname)
    return ok()


def register_routes(app: web.Application) -> None:
    routes.register(app)
