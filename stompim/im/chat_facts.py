"""The rights checks of a batch of chat sends (stompim.im.chat_batch), one query per kind
of fact for the whole batch rather than one per send.

Why a module of its own: the batch writer runs these checks for the next batch while the
current one commits (see SendBatcher), and the rules (who may write to whom, who is
muted) are a job apart from queueing and committing.

Call order: `social_facts(friends, groups)` once (ChatService), then per batch
`BatchRights.check(batch)`: each refused send fails alone (its Future gets the ImError),
the others come back in order, group sends with their `joined_at` filled in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from stompim.config import ImConfig
from stompim.im.conversations import FriendChecks, GroupChecks, UserLookup
from stompim.im.errors import (
    BLOCKED,
    GROUP_MUTED,
    GROUP_NOT_FOUND,
    NOT_FRIENDS,
    NOT_GROUP_MEMBER,
    USER_NOT_FOUND,
    ImError,
)
from stompim.im.messages import ChatType
from stompim.store.friends import FriendRepository, PairFacts
from stompim.store.groups import GroupRepository

if TYPE_CHECKING:
    from stompim.im.chat_sends import PendingSend

ADMIN_ROLE = 1  # MemberRecord.role: 0 member, 1 admin, 2 owner


class SocialFacts(Protocol):
    """What the rights checks of one batch need, asked for all its sends at once."""

    async def private(self, pairs: set[tuple[int, int]]) -> PairFacts:
        """Of the (sender, recipient) pairs: which are blocked either way, and which
        are friendships from sender to recipient."""
        ...

    async def groups(self, group_ids: set[int]) -> Mapping[int, Any]:
        """Active groups (GroupLike) by id; unknown or dissolved ones are absent."""
        ...

    async def members(self, pairs: set[tuple[int, int]]) -> Mapping[tuple[int, int], Any]:
        """Active memberships (MemberLike) by (group_id, user_id)."""
        ...


class CallFacts:
    """SocialFacts through the per-call FriendChecks / GroupChecks methods (any
    implementation of those protocols; used when no batch queries are at hand)."""

    def __init__(self, friends: FriendChecks, groups: GroupChecks) -> None:
        self._friends = friends
        self._groups = groups

    async def private(self, pairs: set[tuple[int, int]]) -> PairFacts:
        blocked = frozenset([p for p in pairs if await self._friends.blocked_either(*p)])
        friends = frozenset([p for p in pairs if await self._friends.is_friend(*p)])
        return PairFacts(blocked, friends)

    async def groups(self, group_ids: set[int]) -> Mapping[int, Any]:
        found = {gid: await self._groups.get(gid) for gid in group_ids}
        return {gid: g for gid, g in found.items() if g is not None}

    async def members(self, pairs: set[tuple[int, int]]) -> Mapping[tuple[int, int], Any]:
        found = {p: await self._groups.member(*p) for p in pairs}
        return {p: m for p, m in found.items() if m is not None}


class RepositoryFacts:
    """SocialFacts in one query each, from the tables FriendService and GroupService
    read (the same rules as their `blocked_either`, `is_friend`, `get`, `member`)."""

    def __init__(self, friends: FriendRepository, groups: GroupRepository) -> None:
        self._friends = friends
        self._groups = groups

    async def private(self, pairs: set[tuple[int, int]]) -> PairFacts:
        return await self._friends.pair_facts(pairs)

    async def groups(self, group_ids: set[int]) -> Mapping[int, Any]:
        found = await self._groups.get_groups(sorted(group_ids))
        return {gid: g for gid, g in found.items() if g.status == 1}

    async def members(self, pairs: set[tuple[int, int]]) -> Mapping[tuple[int, int], Any]:
        return await self._groups.members_many(pairs)


def social_facts(friends: FriendChecks, groups: GroupChecks) -> SocialFacts:
    """Batch queries when the social services are the SQL ones (they expose their
    repositories as `.repo`), else the per-call protocol methods."""
    friend_repo = getattr(friends, "repo", None)
    group_repo = getattr(groups, "repo", None)
    if isinstance(friend_repo, FriendRepository) and isinstance(group_repo, GroupRepository):
        return RepositoryFacts(friend_repo, group_repo)
    return CallFacts(friends, groups)


class BatchRights:
    """The rights rules of chat sends, applied to a batch with one query per kind of fact."""

    def __init__(self, config: ImConfig, facts: SocialFacts, users: UserLookup) -> None:
        self.config = config
        self.facts = facts
        self.users = users

    async def check(self, batch: Sequence[PendingSend]) -> list[PendingSend]:
        """Refuse the sends their senders may not make; the ones left, in order."""
        checked = [p for p in batch if not p.system]
        private = {(p.sender_id, p.target_id) for p in checked if p.chat_type is ChatType.PRIVATE}
        in_group = {(p.target_id, p.sender_id) for p in checked if p.chat_type is ChatType.GROUP}
        facts = (
            await self.facts.private(private)
            if private
            else PairFacts(frozenset(), frozenset())
        )
        blocked, friends = facts.blocked, facts.friends
        strangers = {target for _, target in private - blocked - friends}
        known: set[int] = set()
        if strangers and self.config.allow_stranger_chat:
            known = set((await self.users.get_many(sorted(strangers))).keys())
        groups = await self.facts.groups({g for g, _ in in_group}) if in_group else {}
        members = await self.facts.members(in_group) if in_group else {}
        live: list[PendingSend] = []
        for p in batch:
            if p.system:
                error = None
            elif p.chat_type is ChatType.PRIVATE:
                error = self._private_refusal((p.sender_id, p.target_id), blocked, friends, known)
            else:
                error = self._group_refusal(p, groups, members)
            if error is None:
                live.append(p)
            else:
                p.fail(error)
        return live

    def _private_refusal(
        self,
        pair: tuple[int, int],
        blocked: frozenset[tuple[int, int]],
        friends: frozenset[tuple[int, int]],
        known: set[int],
    ) -> ImError | None:
        if pair in blocked:
            return ImError(BLOCKED, "blocked", 403)
        if pair in friends:
            return None
        if not self.config.allow_stranger_chat:
            return ImError(NOT_FRIENDS, "not friends", 403)
        if pair[1] not in known:
            return ImError(USER_NOT_FOUND, "user not found", 404)
        return None

    @staticmethod
    def _group_refusal(
        p: PendingSend, groups: Mapping[int, Any], members: Mapping[tuple[int, int], Any]
    ) -> ImError | None:
        group = groups.get(p.target_id)
        if group is None:
            return ImError(GROUP_NOT_FOUND, "group not found", 404)
        member = members.get((p.target_id, p.sender_id))
        if member is None:
            return ImError(NOT_GROUP_MEMBER, "not a member of the group", 403)
        until = int(getattr(member, "muted_until", 0))
        if until > p.now:
            left = -(-(until - p.now) // 1000)  # whole seconds, rounded up
            return ImError(
                GROUP_MUTED, f"muted in this group for {left} more seconds (until {until})", 403
            )
        if member.muted or (group.all_muted and member.role < ADMIN_ROLE):
            return ImError(GROUP_MUTED, "muted in this group", 403)
        p.joined_at = int(member.joined_at)
        return None
