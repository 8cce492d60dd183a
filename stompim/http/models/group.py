"""Models of /api/group/*: groups, members, invitations."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from stompim.http.fields import Bounded, Flag, Id, Text
from stompim.http.models.base import Body, Path, View
from stompim.http.models.friend import UserSummary
from stompim.http.paging import PageQuery
from stompim.im.applications import (
    MAX_APPLICATION_MESSAGE,
    MAX_APPLICATIONS_PAGE,
    MAX_CODE,
    MAX_LINK_MINUTES,
    MAX_LINK_USES,
)
from stompim.im.groups import (
    MAX_ANNOUNCEMENT,
    MAX_AVATAR,
    MAX_GROUP_NICKNAME,
    MAX_MEMBERS_PAGE,
    MAX_MUTE_MINUTES,
    MAX_NAME,
)

MAX_IDS = 500  # ids in one request body (memberIds, userIds)

JoinPolicy = Literal["invite_only", "approval", "open"]

# -- requests --------------------------------------------------------------------------


class GroupCreation(Body):
    name: Text = Field(json_schema_extra={"minLength": 1, "maxLength": MAX_NAME})
    avatar: Text | None = Field(None, json_schema_extra={"maxLength": MAX_AVATAR})
    announcement: Text | None = Field(None, json_schema_extra={"maxLength": MAX_ANNOUNCEMENT})
    member_ids: list[Id] | None = Field(
        None, max_length=MAX_IDS, fail_fast=True,
        description="friends join at once, others are invited",
    )
    use_whitelist: Flag | None = Field(None, description="also add my whitelisted friends")


class GroupUpdate(Body):
    """A partial update: null or absent fields keep their value; the whole Group object
    may be sent back (its read-only fields are ignored)."""

    name: Text | None = Field(None, json_schema_extra={"minLength": 1, "maxLength": MAX_NAME})
    avatar: Text | None = Field(None, json_schema_extra={"maxLength": MAX_AVATAR})
    announcement: Text | None = Field(None, json_schema_extra={"maxLength": MAX_ANNOUNCEMENT})
    all_muted: Flag | None = None
    allow_member_invite: Flag | None = None
    avatar_file_id: Id | None = Field(
        None, description="an image I uploaded (purpose group-avatar): avatar becomes its link"
    )
    join_policy: JoinPolicy | None = Field(
        None, description="who may join without an invitation: nobody (invite_only), "
        "applicants once approved (approval), anyone (open)",
    )


class MemberMute(Body):
    minutes: Annotated[int, Bounded(0, MAX_MUTE_MINUTES)] = Field(
        description="how long the member may not send; 0 lifts the mute"
    )


class Application(Body):
    message: Text | None = Field(
        None, json_schema_extra={"maxLength": MAX_APPLICATION_MESSAGE},
        description="a word to the owner and admins",
    )


class InviteLinkRequest(Body):
    expires_in_minutes: Annotated[int, Bounded(1, MAX_LINK_MINUTES)] | None = Field(
        None, description="how long the link works (default 7 days)"
    )
    max_uses: Annotated[int, Bounded(0, MAX_LINK_USES)] | None = Field(
        None, description="how many may join by it; 0 or absent: no limit"
    )


class JoinByLink(Body):
    code: Text = Field(json_schema_extra={"minLength": 1, "maxLength": MAX_CODE})


class ApplicationPath(Path):
    group_id: Id
    application_id: Id


class ApplicationsQuery(PageQuery):
    size: Annotated[int, Bounded(1, MAX_APPLICATIONS_PAGE)] | None = Field(
        None, description="records per page (default 20)"
    )
    page_size: Annotated[int, Bounded(1, MAX_APPLICATIONS_PAGE)] | None = Field(
        None, description="alias of size"
    )


class Invite(Body):
    user_ids: list[Id] = Field(max_length=MAX_IDS, fail_fast=True)


class AdminChange(Body):
    admin: Flag


class OwnerChange(Body):
    user_id: Id


class GroupNickname(Body):
    nickname: Text = Field(json_schema_extra={"maxLength": MAX_GROUP_NICKNAME})


class GroupIdPath(Path):
    group_id: Id


class GroupMemberPath(Path):
    group_id: Id
    user_id: Id


class InvitationIdPath(Path):
    invitation_id: Id


class MembersQuery(PageQuery):
    size: Annotated[int, Bounded(1, MAX_MEMBERS_PAGE)] | None = Field(
        None, description="records per page (default 20)"
    )
    page_size: Annotated[int, Bounded(1, MAX_MEMBERS_PAGE)] | None = Field(
        None, description="alias of size"
    )


# -- responses -------------------------------------------------------------------------


class Group(View):
    id: int
    name: str
    avatar: str
    announcement: str
    owner_id: int
    member_count: int
    max_members: int
    all_muted: bool
    allow_member_invite: bool
    status: int = Field(description="1 active")
    created_at: int
    updated_at: int
    join_policy: JoinPolicy


class MyGroup(Group):
    my_role: int = Field(description="0 member, 1 admin, 2 owner")
    my_nickname: str
    conversation_id: int | None = Field(
        None, description="the group's conversation (null until its first message)"
    )
    last_seq: int = Field(0, description="the seq of its newest message (0: none yet)")


class CreatedGroup(Group):
    member_ids: list[int] = Field(description="who joined at once, the owner first")
    invited_user_ids: list[int] = Field(description="who was invited instead")


class GroupMember(View):
    user_id: int
    role: int = Field(description="0 member, 1 admin, 2 owner")
    group_nickname: str
    muted: bool = Field(description="may not send now (a timed mute, or muted for good)")
    muted_until: int = Field(description="epoch ms a timed mute ends; 0 when none runs")
    joined_at: int
    username: str
    nickname: str
    avatar: str


class MemberMuted(View):
    group_id: int
    user_id: int
    minutes: int
    muted_until: int = Field(description="epoch ms the mute ends; 0 when lifted")


class GroupInvitation(View):
    id: int
    group_id: int
    inviter_id: int
    invitee_id: int
    status: int = Field(description="0 pending, 1 accepted, 2 rejected")
    expires_at: int
    created_at: int
    updated_at: int


class PendingInvitation(GroupInvitation):
    group_name: str
    group_avatar: str
    member_count: int
    inviter: UserSummary


class GroupApplication(View):
    id: int
    group_id: int
    applicant_id: int
    message: str
    status: int = Field(description="0 pending, 1 approved, 2 rejected")
    handler_id: int = Field(description="who answered (0: not yet, or an open group)")
    created_at: int
    updated_at: int


class PendingApplication(GroupApplication):
    applicant: UserSummary


class InviteLink(View):
    code: str = Field(description="what POST /api/group/join-by-link takes")
    group_id: int
    creator_id: int
    expires_at: int
    max_uses: int = Field(description="0: no limit")
    uses: int
    created_at: int
