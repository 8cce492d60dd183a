"""/api/group/*: create, my groups, info, update, dissolve, members, invitations,
join requests, invite links, quit, kick, member mute, admin, owner transfer, group
nickname.

Fixed paths (`/api/group/my`, `/api/group/invitation`, `/api/group/join-by-link`) are
registered before the `/api/group/{groupId}` ones so they are matched first.
"""

from __future__ import annotations

from aiohttp import web

from stompim.http.api import ApiRoutes
from stompim.http.keys import CLAIMS, SERVICES
from stompim.http.models.group import (
    AdminChange,
    Application,
    ApplicationPath,
    ApplicationsQuery,
    CreatedGroup,
    Group,
    GroupApplication,
    GroupCreation,
    GroupIdPath,
    GroupInvitation,
    GroupMember,
    GroupMemberPath,
    GroupNickname,
    GroupUpdate,
    InvitationIdPath,
    Invite,
    InviteLink,
    InviteLinkRequest,
    JoinByLink,
    MemberMute,
    MemberMuted,
    MembersQuery,
    MyGroup,
    OwnerChange,
    PendingApplication,
    PendingInvitation,
)
from stompim.http.paging import Page, page_view
from stompim.im.applications import DEFAULT_LINK_MINUTES
from stompim.im.media import group_subject

routes = ApiRoutes("group")


def _me(request: web.Request) -> int:
    return request[CLAIMS].user_id


@routes.post(
    "/api/group",
    summary="Create a group; friends among memberIds join at once, others are invited",
    response=CreatedGroup,
)
async def create(request: web.Request, body: GroupCreation) -> object:
    return await request.app[SERVICES].groups.create(
        _me(request), name=body.name, avatar=body.avatar or "",
        announcement=body.announcement or "", member_ids=body.member_ids or [],
        use_whitelist=bool(body.use_whitelist),
    )


@routes.get("/api/group/my", summary="Groups I am a member of", response=list[MyGroup])
async def my_groups(request: web.Request) -> object:
    return await request.app[SERVICES].groups.my_groups(_me(request))


@routes.get("/api/group/invitation", summary="My pending, unexpired invitations",
            response=list[PendingInvitation])
async def my_invitations(request: web.Request) -> object:
    return await request.app[SERVICES].groups.invitations.pending(_me(request))


@routes.post("/api/group/invitation/{invitationId}/accept",
             summary="Join the group (4004 when full, 4008 when expired)",
             response=GroupInvitation)
async def accept_invitation(request: web.Request, path: InvitationIdPath) -> object:
    return await request.app[SERVICES].groups.invitations.accept(_me(request), path.invitation_id)


@routes.post("/api/group/invitation/{invitationId}/reject", summary="Decline an invitation",
             response=GroupInvitation)
async def reject_invitation(request: web.Request, path: InvitationIdPath) -> object:
    return await request.app[SERVICES].groups.invitations.reject(_me(request), path.invitation_id)


@routes.post(
    "/api/group/join-by-link",
    summary="Join the group of an invite link's code (4012: unknown, expired or used up)",
    response=Group,
)
async def join_by_link(request: web.Request, body: JoinByLink) -> object:
    return await request.app[SERVICES].groups.joins.join_by_link(_me(request), body.code)


@routes.get("/api/group/{groupId}", summary="Group info (members only)", response=MyGroup)
async def info(request: web.Request, path: GroupIdPath) -> object:
    return await request.app[SERVICES].groups.info(_me(request), path.group_id)


@routes.put(
    "/api/group/{groupId}",
    summary="Update a group (owner or admin); only the fields given change",
    response=Group,
)
async def update(request: web.Request, path: GroupIdPath, body: GroupUpdate) -> object:
    services, me, group_id = request.app[SERVICES], _me(request), path.group_id
    return await services.media.with_avatar(  # media: avatarFileId -> avatar link
        me, body.given(), group_subject(group_id),
        lambda changes: services.groups.update(me, group_id, changes),
    )


@routes.delete("/api/group/{groupId}", summary="Dissolve a group (owner)")
async def dissolve(request: web.Request, path: GroupIdPath) -> object:
    await request.app[SERVICES].groups.dissolve(_me(request), path.group_id)
    return None


@routes.get("/api/group/{groupId}/members", summary="Members with roles and group nicknames",
            response=Page[GroupMember])
async def members(request: web.Request, path: GroupIdPath, query: MembersQuery) -> object:
    page = await request.app[SERVICES].groups.members(
        _me(request), path.group_id, offset=query.offset, limit=query.limit)
    return page_view(page, query)


@routes.post(
    "/api/group/{groupId}/invite",
    summary="Invite users (owner/admin; members when allowMemberInvite)",
    response=list[GroupInvitation],
)
async def invite(request: web.Request, path: GroupIdPath, body: Invite) -> object:
    return await request.app[SERVICES].groups.invitations.invite(
        _me(request), path.group_id, body.user_ids)


@routes.post(
    "/api/group/{groupId}/apply",
    summary="Ask to join: pending under joinPolicy approval, joined at once when open,"
    " 4011 when invite_only",
    response=GroupApplication,
)
async def apply(request: web.Request, path: GroupIdPath, body: Application) -> object:
    return await request.app[SERVICES].groups.joins.apply(
        _me(request), path.group_id, body.message or "")


@routes.get(
    "/api/group/{groupId}/applications",
    summary="Pending join requests, oldest first (owner, admins)",
    response=Page[PendingApplication],
)
async def applications(
    request: web.Request, path: GroupIdPath, query: ApplicationsQuery
) -> object:
    page = await request.app[SERVICES].groups.joins.pending(
        _me(request), path.group_id, offset=query.offset, limit=query.limit)
    return page_view(page, query)


@routes.post(
    "/api/group/{groupId}/applications/{applicationId}/approve",
    summary="Let the applicant in (owner, admins; 4004 when full)",
    response=GroupApplication,
)
async def approve(request: web.Request, path: ApplicationPath) -> object:
    return await request.app[SERVICES].groups.joins.approve(
        _me(request), path.group_id, path.application_id)


@routes.post(
    "/api/group/{groupId}/applications/{applicationId}/reject",
    summary="Decline a join request (owner, admins)",
    response=GroupApplication,
)
async def reject(request: web.Request, path: ApplicationPath) -> object:
    return await request.app[SERVICES].groups.joins.reject(
        _me(request), path.group_id, path.application_id)


@routes.post(
    "/api/group/{groupId}/invite-link",
    summary="A new invite link code with an expiry and a use limit (those who may invite)",
    response=InviteLink,
)
async def invite_link(request: web.Request, path: GroupIdPath, body: InviteLinkRequest) -> object:
    return await request.app[SERVICES].groups.joins.create_link(
        _me(request), path.group_id,
        minutes=body.expires_in_minutes or DEFAULT_LINK_MINUTES, max_uses=body.max_uses or 0)


@routes.post("/api/group/{groupId}/quit", summary="Leave (the owner must transfer first: 4007)")
async def quit_group(request: web.Request, path: GroupIdPath) -> object:
    await request.app[SERVICES].groups.quit(_me(request), path.group_id)
    return None


@routes.delete(
    "/api/group/{groupId}/member/{userId}",
    summary="Kick a member (owner: anyone else; admin: plain members)",
)
async def kick(request: web.Request, path: GroupMemberPath) -> object:
    await request.app[SERVICES].groups.kick(_me(request), path.group_id, path.user_id)
    return None


@routes.put(
    "/api/group/{groupId}/member/{userId}/mute",
    summary="Mute a member for some minutes, 0 lifts it (owner: anyone else; admin: members)",
    response=MemberMuted,
)
async def mute_member(request: web.Request, path: GroupMemberPath, body: MemberMute) -> object:
    return await request.app[SERVICES].groups.mute_member(
        _me(request), path.group_id, path.user_id, body.minutes)


@routes.put("/api/group/{groupId}/admin/{userId}", summary="Grant or revoke admin (owner)")
async def set_admin(request: web.Request, path: GroupMemberPath, body: AdminChange) -> object:
    await request.app[SERVICES].groups.set_admin(
        _me(request), path.group_id, path.user_id, body.admin)
    return None


@routes.put("/api/group/{groupId}/owner", summary="Transfer ownership to a member (owner)")
async def transfer(request: web.Request, path: GroupIdPath, body: OwnerChange) -> object:
    await request.app[SERVICES].groups.transfer(_me(request), path.group_id, body.user_id)
    return None


@routes.put("/api/group/{groupId}/nickname", summary="Set my nickname in the group")
async def set_nickname(request: web.Request, path: GroupIdPath, body: GroupNickname) -> object:
    await request.app[SERVICES].groups.set_nickname(_me(request), path.group_id, body.nickname)
    return None


def register_routes(app: web.Application) -> None:
    routes.register(app)
