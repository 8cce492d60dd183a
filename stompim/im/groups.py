"""Groups: lifecycle, members and roles. Invitations live in im/invitations.py, join
requests and invite links in im/applications.py.

Every permission question goes through stompim.im.roles.check (one table); this
module only finds the actor's role and the target's role.

Call order of a changing operation: validate input -> load group (4001) -> actor
role -> roles.check -> transaction (group row locked, so member_count and roles
cannot race) -> after commit: live authorization (Publisher.end_subscriptions for
users who lost the group) and notifications.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from stompim.im.applications import JoinService
from stompim.im.clock import Clock, now_ms
from stompim.im.errors import (
    BAD_REQUEST,
    GROUP_FULL,
    GROUP_PERMISSION_DENIED,
    NOT_GROUP_MEMBER,
    ImError,
)
from stompim.im.friends import user_summary
from stompim.im.group_access import GroupAccess, role_of
from stompim.im.ids import id_list, id_value
from stompim.im.invitations import InvitationService
from stompim.im.notifications import NotificationService, NotificationType
from stompim.im.paging import Page, check_window, window
from stompim.im.publisher import Publisher
from stompim.im.roles import Action, Role, check, kick_action, mute_action
from stompim.im.system_messages import GroupEvent, Timeline
from stompim.store.conversations import ConversationRepository
from stompim.store.database import Database
from stompim.store.friends import FriendRepository
from stompim.store.groups import JOIN_POLICIES, GroupRecord, GroupRepository, MemberRecord
from stompim.store.users import UserRepository

__all__ = ["GroupRecord", "GroupService", "MemberRecord"]

log = logging.getLogger(__name__)

MAX_NAME = 64
MAX_AVATAR = 512
MAX_ANNOUNCEMENT = 1024
MAX_GROUP_NICKNAME = 64
MAX_MEMBERS_PAGE = 500  # members per page: a whole default-sized group at once
MAX_MUTE_MINUTES = 30 * 24 * 60  # a member's mute lasts at most 30 days
MINUTE_MS = 60_000


def _text(raw: Any, field: str, limit: int, *, required: bool = False) -> str:
    if not isinstance(raw, str):
        raise ImError(BAD_REQUEST, f"{field}: must be a string")
    value = raw.strip() if required else raw
    if required and not value:
        raise ImError(BAD_REQUEST, f"{field}: must not be empty")
    if len(value) > limit:
        raise ImError(BAD_REQUEST, f"{field}: at most {limit} characters")
    return value


class GroupService:
    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        notifications: NotificationService,
        *,
        max_group_size: int = 500,
        invitation_ttl_days: int = 7,
        users: UserRepository | None = None,
        clock: Clock = now_ms,
    ) -> None:
        self.db = db
        self.repo = GroupRepository(db)
        self.publisher = publisher
        self.notifications = notifications
        self.max_group_size = max_group_size
        self.users = users or UserRepository(db)
        self.friends = FriendRepository(db)
        self.clock = clock
        self.conversations = ConversationRepository(db)
        self.access = GroupAccess(db, self.repo, self.users, self.friends, clock)
        self.invitations = InvitationService(
            self.access, notifications, ttl_days=invitation_ttl_days
        )
        self.joins = JoinService(self.access, notifications)  # join requests, invite links

    def attach_timeline(self, timeline: Timeline) -> None:
        """Report group events as system messages in the group's conversation
        (stompim.im.system_messages; services.py attaches chat's once both exist)."""
        self.access.timeline = timeline

    # -- contract used by chat ----------------------------------------------------------

    async def get(self, group_id: int) -> GroupRecord | None:
        return await self.access.get(group_id)

    async def member(self, group_id: int, user_id: int) -> MemberRecord | None:
        return await self.repo.member(id_value(group_id, "groupId"), user_id)

    async def require_group(self, group_id: int) -> GroupRecord:
        return await self.access.require_group(group_id)

    async def require_member(self, group_id: int, user_id: int) -> MemberRecord:
        await self.require_group(group_id)
        member = await self.repo.member(group_id, user_id)
        if member is None:
            raise ImError(NOT_GROUP_MEMBER, "not a member of the group", 403)
        return member

    async def member_ids(self, group_id: int) -> list[int]:
        return await self.repo.member_ids(group_id)

    async def groups_of(self, user_id: int) -> list[int]:
        return [m.group_id for m in await self.repo.memberships_of(user_id)]

    # -- shared steps ---------------------------------------------------------------------

    async def join(self, tx: Any, group_id: int, user_id: int) -> bool:
        """Add `user_id` inside the caller's transaction (see GroupAccess.join)."""
        return await self.access.join(tx, group_id, user_id)

    async def _lose_group(self, user_ids: Iterable[int], group_id: int, reason: str) -> None:
        for uid in user_ids:
            try:
                await self.publisher.left_group(uid, group_id, reason)
            except Exception:
                # The change is committed; the chat handler re-checks membership on
                # every SEND and SUBSCRIBE, so a failed push only delays the cut-off.
                log.exception("end_subscriptions(%s, group %s) failed", uid, group_id)

    # -- lifecycle ---------------------------------------------------------------------------

    async def create(
        self, owner_id: int, *, name: str, avatar: str = "", announcement: str = "",
        member_ids: Iterable[int] = (), use_whitelist: bool = False,
    ) -> dict[str, Any]:
        """Create a group owned by `owner_id`.

        Friends among `member_ids`, and with `use_whitelist` the owner's whitelisted
        friends, join at once; everyone else in `member_ids` gets an invitation.
        Returns the group JSON plus `memberIds` (joined) and `invitedUserIds`.
        """
        name = _text(name, "name", MAX_NAME, required=True)
        avatar = _text(avatar, "avatar", MAX_AVATAR)
        announcement = _text(announcement, "announcement", MAX_ANNOUNCEMENT)
        requested = sorted(set(id_list(member_ids, "memberIds")) - {owner_id})
        direct = await self.friends.active_friend_ids(owner_id, requested)
        if use_whitelist:
            listed = [uid for uid, _ in await self.friends.whitelist(owner_id)]
            direct |= await self.friends.active_friend_ids(owner_id, listed)
        direct.discard(owner_id)
        to_invite = [uid for uid in requested if uid not in direct]
        if 1 + len(direct) > self.max_group_size:
            raise ImError(GROUP_FULL, "group is full", 409)
        now = self.clock()
        async with self.db.transaction() as tx:
            gid = await self.repo.insert_group(
                tx, name=name, avatar=avatar, announcement=announcement, owner_id=owner_id,
                member_count=1 + len(direct), max_members=self.max_group_size, now=now,
            )
            await self.repo.add_member(tx, gid, owner_id, int(Role.OWNER), now)
            for uid in sorted(direct):
                await self.repo.add_member(tx, gid, uid, int(Role.MEMBER), now)
        # The conversation exists from the start (an empty one is not listed), so the
        # group JSON names it. No system message: its first seq is the first chat
        # message; members added directly are told by a notification.
        await self.conversations.ensure_group(gid, now)
        if direct:
            added = sorted(direct)
            owner_name = await self.access.display_name(owner_id)
            await self.notifications.notify_many(
                added, NotificationType.GROUP_JOINED,
                f"{owner_name} added you to group {name}",
                {"groupId": gid, "groupName": name, "operatorId": owner_id},
            )
        invited = await self.invitations.invite(owner_id, gid, to_invite) if to_invite else []
        group = await self.require_group(gid)
        return group.to_json() | {
            "memberIds": [owner_id, *sorted(direct)],
            "invitedUserIds": [inv["inviteeId"] for inv in invited],
        }

    async def dissolve(self, actor_id: int, group_id: int) -> None:
        group, _ = await self.access.authorize(actor_id, group_id, Action.DISSOLVE)
        async with self.db.transaction() as tx:
            await self.access.locked_active(tx, group_id)
            members = await self.repo.member_ids(group_id, tx)
            await self.repo.dissolve(tx, group_id, self.clock())
        await self._lose_group(members, group_id, "group dissolved")
        others = [uid for uid in members if uid != actor_id]
        await self.notifications.notify_many(
            others, NotificationType.GROUP_DISSOLVED,
            f"group {group.name} was dissolved", {"groupId": group_id, "groupName": group.name},
        )

    async def update(self, actor_id: int, group_id: int, changes: Mapping[str, Any]) -> GroupRecord:
        """`changes` keys (camelCase as in REST): name, avatar, announcement, allMuted,
        allowMemberInvite, joinPolicy; unknown keys are ignored. Each change of name,
        announcement, allMuted or joinPolicy is posted as a system message."""
        before, _ = await self.access.authorize(actor_id, group_id, Action.UPDATE)
        cols: dict[str, Any] = {}
        if "name" in changes:
            cols["name"] = _text(changes["name"], "name", MAX_NAME, required=True)
        if "avatar" in changes:
            cols["avatar"] = _text(changes["avatar"], "avatar", MAX_AVATAR)
        if "announcement" in changes:
            cols["announcement"] = _text(changes["announcement"], "announcement", MAX_ANNOUNCEMENT)
        for key, col in (("allMuted", "all_muted"), ("allowMemberInvite", "allow_member_invite")):
            if key in changes:
                if not isinstance(changes[key], bool):
                    raise ImError(BAD_REQUEST, f"{key}: must be a boolean")
                cols[col] = 1 if changes[key] else 0
        if "joinPolicy" in changes:
            if changes["joinPolicy"] not in JOIN_POLICIES:
                raise ImError(BAD_REQUEST, f"joinPolicy: one of {', '.join(JOIN_POLICIES)}")
            cols["join_policy"] = JOIN_POLICIES.index(changes["joinPolicy"])
        await self.repo.update_group(group_id, cols, self.clock())
        after = await self.require_group(group_id)
        await self._announce_update(actor_id, before, after)
        return after

    async def _announce_update(
        self, actor_id: int, before: GroupRecord, after: GroupRecord
    ) -> None:
        gid, who = after.id, await self.access.display_name(actor_id)
        if after.name != before.name:
            await self.access.announce(
                gid, actor_id, GroupEvent.GROUP_RENAMED,
                f"{who} renamed the group to {after.name}",
                name=after.name, previousName=before.name,
            )
        if after.announcement != before.announcement:
            await self.access.announce(
                gid, actor_id, GroupEvent.ANNOUNCEMENT_CHANGED,
                f"{who} changed the announcement", announcement=after.announcement,
            )
        if after.all_muted != before.all_muted:
            await self.access.announce(
                gid, actor_id, GroupEvent.ALL_MUTED,
                f"{who} {'muted everyone' if after.all_muted else 'lifted the group mute'}",
                muted=after.all_muted,
            )
        if after.join_policy != before.join_policy:
            policy = after.join_policy
            await self.access.announce(
                gid, actor_id, GroupEvent.JOIN_POLICY_CHANGED,
                f"{who} set joining to {policy.replace('_', ' ')}", joinPolicy=policy,
            )

    # -- views ---------------------------------------------------------------------------------

    async def _chat_fields(self, group_ids: list[int]) -> dict[int, dict[str, Any]]:
        """conversationId (None before the first message) and lastSeq of each group,
        so a client opens the group's chat and resumes it without the conversation list."""
        convs = await self.conversations.by_keys(f"g:{gid}" for gid in group_ids)
        out = {}
        for gid in group_ids:
            conv = convs.get(f"g:{gid}")
            out[gid] = {"conversationId": conv.id if conv else None,
                        "lastSeq": conv.last_seq if conv else 0}
        return out

    async def info(self, actor_id: int, group_id: int) -> dict[str, Any]:
        group, actor = await self.access.authorize(actor_id, group_id, Action.VIEW)
        assert actor is not None
        chat = (await self._chat_fields([group.id]))[group.id]
        return group.to_json() | {"myRole": actor.role, "myNickname": actor.nickname} | chat

    async def my_groups(self, user_id: int) -> list[dict[str, Any]]:
        memberships = await self.repo.memberships_of(user_id)
        groups = await self.repo.get_groups([m.group_id for m in memberships])
        chat = await self._chat_fields(
            [m.group_id for m in memberships if m.group_id in groups])
        out = []
        for m in memberships:
            g = groups.get(m.group_id)
            if g is not None and g.status == 1:
                out.append(g.to_json() | {"myRole": m.role, "myNickname": m.nickname}
                           | chat[g.id])
        return out

    async def members(
        self, actor_id: int, group_id: int, *, offset: int = 0, limit: int = MAX_MEMBERS_PAGE
    ) -> Page[dict[str, Any]]:
        """Members with roles and profile summaries (members only may look)."""
        check_window(offset, limit, MAX_MEMBERS_PAGE)
        await self.access.authorize(actor_id, group_id, Action.VIEW)
        everyone = await self.repo.members(group_id)
        members = window(everyone, offset, limit)
        now = self.clock()
        users = await self.users.get_many(m.user_id for m in members)
        records = [
            {
                "userId": m.user_id,
                "role": m.role,
                "groupNickname": m.nickname,
                "muted": m.muted_at(now),
                "mutedUntil": m.muted_until if m.muted_until > now else 0,
                "joinedAt": m.joined_at,
                **{k: v for k, v in user_summary(users.get(m.user_id), m.user_id).items()
                   if k != "id"},
            }
            for m in members
        ]
        return Page(records, len(everyone))

    # -- membership changes --------------------------------------------------------------------

    async def quit(self, user_id: int, group_id: int) -> None:
        """Leave; the owner is refused (4007) until ownership is transferred."""
        await self.access.authorize(user_id, group_id, Action.QUIT)
        async with self.db.transaction() as tx:
            await self.access.locked_active(tx, group_id)
            left = await self.repo.remove_member(tx, group_id, user_id, self.clock())
            if left:
                await self.repo.add_to_count(tx, group_id, -1, self.clock())
        if left:  # posted before the cut-off, so the leaver's devices see it too
            await self.access.announce(
                group_id, user_id, GroupEvent.MEMBER_LEFT,
                f"{await self.access.display_name(user_id)} left the group", userIds=[user_id],
            )
        await self._lose_group([user_id], group_id, "left the group")

    async def kick(self, actor_id: int, group_id: int, target_id: int) -> None:
        target_id = id_value(target_id, "userId")
        group = await self.require_group(group_id)
        actor = await self.repo.member(group_id, actor_id)
        target = await self.repo.member(group_id, target_id)
        if target is None:  # refuse by the actor's own rights first, then "no such member"
            check(Action.KICK_MEMBER, role_of(actor))
            raise ImError(NOT_GROUP_MEMBER, "that user is not a member of the group", 404)
        # Kicking oneself falls under KICK_<own role>, which the table never allows.
        check(kick_action(role_of(target)), role_of(actor))
        async with self.db.transaction() as tx:
            await self.access.locked_active(tx, group_id)
            removed = await self.repo.remove_member(tx, group_id, target_id, self.clock())
            if removed:
                await self.repo.add_to_count(tx, group_id, -1, self.clock())
        if removed:  # posted before the cut-off, so the removed member sees it too
            await self.access.announce(
                group_id, actor_id, GroupEvent.MEMBER_KICKED,
                f"{await self.access.display_name(actor_id)} removed"
                f" {await self.access.display_name(target_id)}",
                userIds=[target_id],
            )
        await self._lose_group([target_id], group_id, "removed from the group")
        await self.notifications.notify(
            target_id, NotificationType.GROUP_KICKED,
            f"you were removed from group {group.name}",
            {"groupId": group_id, "groupName": group.name, "operatorId": actor_id},
        )

    async def set_admin(self, actor_id: int, group_id: int, target_id: int, admin: bool) -> None:
        target_id = id_value(target_id, "userId")
        group, _ = await self.access.authorize(actor_id, group_id, Action.SET_ADMIN)
        new_role = Role.ADMIN if admin else Role.MEMBER
        async with self.db.transaction() as tx:
            await self.access.locked_active(tx, group_id)
            target = await self.repo.member(group_id, target_id, tx)
            if target is None:
                raise ImError(NOT_GROUP_MEMBER, "that user is not a member of the group", 404)
            if target.role == Role.OWNER:
                raise ImError(GROUP_PERMISSION_DENIED, "the owner's role cannot change", 403)
            changed = target.role != new_role
            if changed:
                await self.repo.set_role(tx, group_id, target_id, int(new_role), self.clock())
        if changed:
            await self.access.announce(
                group_id, actor_id, GroupEvent.ROLE_CHANGED,
                f"{await self.access.display_name(actor_id)}"
                f" {'made' if admin else 'removed'} {await self.access.display_name(target_id)}"
                f" {'an admin' if admin else 'as admin'}",
                userIds=[target_id], role="admin" if admin else "member",
            )
            await self.notifications.notify(
                target_id, NotificationType.GROUP_ROLE_CHANGED,
                f"you are {'now an admin' if admin else 'no longer an admin'} of {group.name}",
                {"groupId": group_id, "groupName": group.name, "role": int(new_role)},
            )

    async def transfer(self, actor_id: int, group_id: int, target_id: int) -> None:
        """Hand ownership to a member; the old owner becomes a plain member."""
        target_id = id_value(target_id, "userId")
        group, _ = await self.access.authorize(actor_id, group_id, Action.TRANSFER)
        if target_id == actor_id:
            raise ImError(BAD_REQUEST, "userId: already the owner")
        async with self.db.transaction() as tx:
            locked = await self.access.locked_active(tx, group_id)
            if locked.owner_id != actor_id:
                raise ImError(GROUP_PERMISSION_DENIED, "not allowed to transfer", 403)
            if await self.repo.member(group_id, target_id, tx) is None:
                raise ImError(NOT_GROUP_MEMBER, "that user is not a member of the group", 404)
            now = self.clock()
            await self.repo.set_role(tx, group_id, target_id, int(Role.OWNER), now)
            await self.repo.set_role(tx, group_id, actor_id, int(Role.MEMBER), now)
            await self.repo.set_owner(tx, group_id, target_id, now)
        await self.access.announce(
            group_id, actor_id, GroupEvent.OWNER_TRANSFERRED,
            f"{await self.access.display_name(actor_id)} made"
            f" {await self.access.display_name(target_id)} the owner",
            userIds=[target_id], previousOwnerId=actor_id,
        )
        await self.notifications.notify(
            target_id, NotificationType.GROUP_OWNER_TRANSFERRED,
            f"you are now the owner of {group.name}",
            {"groupId": group_id, "groupName": group.name, "previousOwnerId": actor_id},
        )

    async def mute_member(
        self, actor_id: int, group_id: int, target_id: int, minutes: int
    ) -> dict[str, Any]:
        """Mute a member for `minutes` (0 lifts the mute). Owner: anyone else; admin:
        plain members (roles.mute_action). The member's sends are refused with 4005
        and the time left until then (stompim.im.chat_batch)."""
        target_id = id_value(target_id, "userId")
        if (not isinstance(minutes, int) or isinstance(minutes, bool)
                or not 0 <= minutes <= MAX_MUTE_MINUTES):
            raise ImError(BAD_REQUEST, f"minutes: an integer from 0 to {MAX_MUTE_MINUTES}")
        group = await self.require_group(group_id)
        actor = await self.repo.member(group_id, actor_id)
        target = await self.repo.member(group_id, target_id)
        if target is None:  # refuse by the actor's own rights first, then "no such member"
            check(Action.MUTE_MEMBER, role_of(actor))
            raise ImError(NOT_GROUP_MEMBER, "that user is not a member of the group", 404)
        check(mute_action(role_of(target)), role_of(actor))
        now = self.clock()
        until = now + minutes * MINUTE_MS if minutes else 0
        async with self.db.transaction() as tx:
            await self.access.locked_active(tx, group_id)
            await self.repo.set_muted_until(tx, group_id, target_id, until, now)
        who, whom = (await self.access.display_name(actor_id),
                     await self.access.display_name(target_id))
        text = (f"{who} muted {whom} for {minutes} minutes" if minutes
                else f"{who} lifted the mute of {whom}")
        await self.access.announce(
            group_id, actor_id, GroupEvent.MEMBER_MUTED, text,
            userIds=[target_id], minutes=minutes, mutedUntil=until,
        )
        await self.notifications.notify(
            target_id, NotificationType.GROUP_MUTED,
            f"you were muted in {group.name} for {minutes} minutes" if minutes
            else f"you may speak again in {group.name}",
            {"groupId": group_id, "groupName": group.name, "operatorId": actor_id,
             "minutes": minutes, "mutedUntil": until},
        )
        return {"groupId": group_id, "userId": target_id, "minutes": minutes, "mutedUntil": until}

    async def set_nickname(self, user_id: int, group_id: int, nickname: str) -> None:
        nickname = _text(nickname, "nickname", MAX_GROUP_NICKNAME)
        await self.access.authorize(user_id, group_id, Action.SET_NICKNAME)
        await self.repo.set_nickname(group_id, user_id, nickname, self.clock())
