"""Groups, their members and invitations.

Tables (the "social" section of sql/mysql.sql): `chat_group` (not `groups`: a
reserved word in MySQL 8), `group_member` (one row per group and user, soft-left
by `status = 0` so a user can rejoin), `group_invitation`.

Why `chat_group.member_count`: the size limit must hold under concurrent joins.
Every join or leave runs in a transaction that first locks the group row
(`lock_group`: `SELECT ... FOR UPDATE` on MySQL; SQLite transactions are already
serialized by `BEGIN IMMEDIATE`), then reads and changes `member_count` — so two
joins to a nearly full group cannot both see room.

Methods that take `q` must be called inside such a transaction (pass the tx).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stompim.store.database import Database

INV_PENDING, INV_ACCEPTED, INV_REJECTED = 0, 1, 2

_GROUP_COLS = (
    "id, name, avatar, announcement, owner_id, member_count, max_members, all_muted,"
    " allow_member_invite, status, created_at, updated_at, join_policy"
)
_MEMBER_COLS = "group_id, user_id, role, nickname, muted, joined_at, muted_until"
_INV_COLS = "id, group_id, inviter_id, invitee_id, status, expires_at, created_at, updated_at"
UPDATABLE = ("name", "avatar", "announcement", "all_muted", "allow_member_invite", "join_policy")
JOIN_POLICIES = ("invite_only", "approval", "open")  # join_policy 0, 1, 2


@dataclass(frozen=True)
class GroupRecord:
    id: int
    name: str
    avatar: str
    announcement: str
    owner_id: int
    member_count: int
    max_members: int
    all_muted: bool
    allow_member_invite: bool
    status: int  # 1 active, 0 dissolved
    created_at: int
    updated_at: int
    join_policy: str = "invite_only"  # one of JOIN_POLICIES (stored as its index)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "avatar": self.avatar,
            "announcement": self.announcement,
            "ownerId": self.owner_id,
            "memberCount": self.member_count,
            "maxMembers": self.max_members,
            "allMuted": self.all_muted,
            "allowMemberInvite": self.allow_member_invite,
            "status": self.status,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "joinPolicy": self.join_policy,
        }


@dataclass(frozen=True)
class MemberRecord:
    group_id: int
    user_id: int
    role: int  # 0 member, 1 admin, 2 owner
    nickname: str
    muted: bool
    joined_at: int
    muted_until: int = 0  # epoch ms a timed mute ends (0: none)

    def muted_at(self, now: int) -> bool:
        """Whether the member may not send at `now` (muted, or within a timed mute)."""
        return self.muted or self.muted_until > now


@dataclass(frozen=True)
class InvitationRecord:
    id: int
    group_id: int
    inviter_id: int
    invitee_id: int
    status: int  # 0 pending, 1 accepted, 2 rejected
    expires_at: int
    created_at: int
    updated_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "groupId": self.group_id,
            "inviterId": self.inviter_id,
            "inviteeId": self.invitee_id,
            "status": self.status,
            "expiresAt": self.expires_at,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


def _group(row: dict[str, Any]) -> GroupRecord:
    return GroupRecord(
        id=int(row["id"]),
        name=row["name"],
        avatar=row["avatar"],
        announcement=row["announcement"],
        owner_id=int(row["owner_id"]),
        member_count=int(row["member_count"]),
        max_members=int(row["max_members"]),
        all_muted=bool(row["all_muted"]),
        allow_member_invite=bool(row["allow_member_invite"]),
        status=int(row["status"]),
        created_at=int(row["created_at"]),
        updated_at=int(row["updated_at"]),
        join_policy=_policy_name(int(row["join_policy"])),
    )


def _policy_name(value: int) -> str:
    return JOIN_POLICIES[value] if 0 <= value < len(JOIN_POLICIES) else JOIN_POLICIES[0]


def _member(row: dict[str, Any]) -> MemberRecord:
    return MemberRecord(
        group_id=int(row["group_id"]),
        user_id=int(row["user_id"]),
        role=int(row["role"]),
        nickname=row["nickname"],
        muted=bool(row["muted"]),
        joined_at=int(row["joined_at"]),
        muted_until=int(row["muted_until"]),
    )


def _invitation(row: dict[str, Any]) -> InvitationRecord:
    return InvitationRecord(**{k: int(row[k]) for k in _INV_COLS.split(", ")})


class GroupRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _for_update(self) -> str:
        return " FOR UPDATE" if self.db.dialect == "mysql" else ""

    # -- groups ----------------------------------------------------------------

    async def insert_group(
        self, q: Any, *, name: str, avatar: str, announcement: str, owner_id: int,
        member_count: int, max_members: int, now: int,
    ) -> int:
        res = await q.execute(
            "INSERT INTO chat_group (name, avatar, announcement, owner_id, member_count,"
            " max_members, all_muted, allow_member_invite, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 0, 0, 1, ?, ?)",
            (name, avatar, announcement, owner_id, member_count, max_members, now, now),
        )
        assert res.lastrowid is not None
        return int(res.lastrowid)

    async def get_group(self, group_id: int) -> GroupRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {_GROUP_COLS} FROM chat_group WHERE id = ?", (group_id,)
        )
        return _group(row) if row else None

    async def lock_group(self, q: Any, group_id: int) -> GroupRecord | None:
        row = await q.fetch_one(
            f"SELECT {_GROUP_COLS} FROM chat_group WHERE id = ?{self._for_update()}", (group_id,)
        )
        return _group(row) if row else None

    async def get_groups(self, ids: list[int]) -> dict[int, GroupRecord]:
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = await self.db.fetch_all(
            f"SELECT {_GROUP_COLS} FROM chat_group WHERE id IN ({marks})", tuple(ids)
        )
        return {int(r["id"]): _group(r) for r in rows}

    async def update_group(self, group_id: int, changes: Mapping[str, Any], now: int) -> None:
        bad = set(changes) - set(UPDATABLE)
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        if not changes:
            return
        sets = ", ".join(f"{col} = ?" for col in changes)
        await self.db.execute(
            f"UPDATE chat_group SET {sets}, updated_at = ? WHERE id = ?",
            (*changes.values(), now, group_id),
        )

    async def add_to_count(self, q: Any, group_id: int, delta: int, now: int) -> None:
        await q.execute(
            "UPDATE chat_group SET member_count = member_count + ?, updated_at = ? WHERE id = ?",
            (delta, now, group_id),
        )

    async def set_owner(self, q: Any, group_id: int, owner_id: int, now: int) -> None:
        await q.execute(
            "UPDATE chat_group SET owner_id = ?, updated_at = ? WHERE id = ?",
            (owner_id, now, group_id),
        )

    async def dissolve(self, q: Any, group_id: int, now: int) -> None:
        await q.execute(
            "UPDATE chat_group SET status = 0, updated_at = ? WHERE id = ?", (now, group_id)
        )
        await q.execute(
            "UPDATE group_member SET status = 0, updated_at = ? WHERE group_id = ? AND status = 1",
            (now, group_id),
        )
        await q.execute(
            "UPDATE group_invitation SET status = 2, updated_at = ? WHERE group_id = ?"
            " AND status = 0",
            (now, group_id),
        )

    # -- members ------------------------------------------------------------------

    async def add_member(self, q: Any, group_id: int, user_id: int, role: int, now: int) -> bool:
        """Insert or re-activate; False when the user already is an active member."""
        row = await q.fetch_one(
            "SELECT status FROM group_member WHERE group_id = ? AND user_id = ?",
            (group_id, user_id),
        )
        if row is not None and int(row["status"]) == 1:
            return False
        if row is None:
            await q.execute(
                "INSERT INTO group_member (group_id, user_id, role, nickname, muted, status,"
                " joined_at, updated_at) VALUES (?, ?, ?, '', 0, 1, ?, ?)",
                (group_id, user_id, role, now, now),
            )
        else:
            await q.execute(
                "UPDATE group_member SET role = ?, nickname = '', muted = 0, muted_until = 0,"
                " status = 1,"
                " joined_at = ?, updated_at = ? WHERE group_id = ? AND user_id = ?",
                (role, now, now, group_id, user_id),
            )
        return True

    async def remove_member(self, q: Any, group_id: int, user_id: int, now: int) -> bool:
        res = await q.execute(
            "UPDATE group_member SET status = 0, role = 0, updated_at = ?"
            " WHERE group_id = ? AND user_id = ? AND status = 1",
            (now, group_id, user_id),
        )
        return bool(res.rowcount > 0)

    async def set_role(self, q: Any, group_id: int, user_id: int, role: int, now: int) -> None:
        await q.execute(
            "UPDATE group_member SET role = ?, updated_at = ? WHERE group_id = ? AND user_id = ?"
            " AND status = 1",
            (role, now, group_id, user_id),
        )

    async def set_muted_until(
        self, q: Any, group_id: int, user_id: int, until: int, now: int
    ) -> None:
        """A timed mute ends at `until` (0 lifts it, and any untimed mute with it)."""
        await q.execute(
            "UPDATE group_member SET muted_until = ?, muted = CASE WHEN ? = 0 THEN 0 ELSE muted"
            " END, updated_at = ? WHERE group_id = ? AND user_id = ? AND status = 1",
            (until, until, now, group_id, user_id),
        )

    async def set_nickname(self, group_id: int, user_id: int, nickname: str, now: int) -> None:
        await self.db.execute(
            "UPDATE group_member SET nickname = ?, updated_at = ? WHERE group_id = ?"
            " AND user_id = ? AND status = 1",
            (nickname, now, group_id, user_id),
        )

    async def member(self, group_id: int, user_id: int, q: Any = None) -> MemberRecord | None:
        row = await (q or self.db).fetch_one(
            f"SELECT {_MEMBER_COLS} FROM group_member WHERE group_id = ? AND user_id = ?"
            " AND status = 1",
            (group_id, user_id),
        )
        return _member(row) if row else None

    async def members_many(
        self, pairs: Iterable[tuple[int, int]]
    ) -> dict[tuple[int, int], MemberRecord]:
        """Active memberships among (group_id, user_id) pairs (`member` for many pairs,
        one query: chat's group commit checks a whole batch of group sends at once)."""
        wanted = set(pairs)
        if not wanted:
            return {}
        groups = sorted({g for g, _ in wanted})
        users = sorted({u for _, u in wanted})
        rows = await self.db.fetch_all(
            f"SELECT {_MEMBER_COLS} FROM group_member WHERE status = 1"
            f" AND group_id IN ({', '.join('?' for _ in groups)})"
            f" AND user_id IN ({', '.join('?' for _ in users)})",
            (*groups, *users),
        )
        found = {(int(r["group_id"]), int(r["user_id"])): _member(r) for r in rows}
        return {pair: m for pair, m in found.items() if pair in wanted}

    async def members(self, group_id: int) -> list[MemberRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {_MEMBER_COLS} FROM group_member WHERE group_id = ? AND status = 1"
            " ORDER BY role DESC, joined_at, user_id",
            (group_id,),
        )
        return [_member(r) for r in rows]

    async def member_ids(self, group_id: int, q: Any = None) -> list[int]:
        rows = await (q or self.db).fetch_all(
            "SELECT user_id FROM group_member WHERE group_id = ? AND status = 1 ORDER BY user_id",
            (group_id,),
        )
        return [int(r["user_id"]) for r in rows]

    async def count_members(self, group_id: int) -> int:
        return int(
            await self.db.fetch_val(
                "SELECT COUNT(*) FROM group_member WHERE group_id = ? AND status = 1", (group_id,)
            )
            or 0
        )

    async def memberships_of(self, user_id: int) -> list[MemberRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {_MEMBER_COLS} FROM group_member WHERE user_id = ? AND status = 1"
            " ORDER BY joined_at, group_id",
            (user_id,),
        )
        return [_member(r) for r in rows]

    # -- invitations -----------------------------------------------------------------

    async def pending_invitation(
        self, q: Any, group_id: int, invitee_id: int
    ) -> InvitationRecord | None:
        row = await q.fetch_one(
            f"SELECT {_INV_COLS} FROM group_invitation WHERE group_id = ? AND invitee_id = ?"
            " AND status = 0 ORDER BY id DESC LIMIT 1",
            (group_id, invitee_id),
        )
        return _invitation(row) if row else None

    async def insert_invitation(
        self, q: Any, group_id: int, inviter_id: int, invitee_id: int, expires_at: int, now: int
    ) -> InvitationRecord:
        res = await q.execute(
            "INSERT INTO group_invitation (group_id, inviter_id, invitee_id, status, expires_at,"
            " created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?, ?)",
            (group_id, inviter_id, invitee_id, expires_at, now, now),
        )
        assert res.lastrowid is not None
        return InvitationRecord(
            int(res.lastrowid), group_id, inviter_id, invitee_id, INV_PENDING, expires_at, now, now
        )

    async def renew_invitation(
        self, q: Any, invitation_id: int, inviter_id: int, expires_at: int, now: int
    ) -> None:
        await q.execute(
            "UPDATE group_invitation SET inviter_id = ?, expires_at = ?, updated_at = ?"
            " WHERE id = ?",
            (inviter_id, expires_at, now, invitation_id),
        )

    async def get_invitation(self, invitation_id: int, q: Any = None) -> InvitationRecord | None:
        row = await (q or self.db).fetch_one(
            f"SELECT {_INV_COLS} FROM group_invitation WHERE id = ?", (invitation_id,)
        )
        return _invitation(row) if row else None

    async def lock_invitation(self, q: Any, invitation_id: int) -> InvitationRecord | None:
        row = await q.fetch_one(
            f"SELECT {_INV_COLS} FROM group_invitation WHERE id = ?{self._for_update()}",
            (invitation_id,),
        )
        return _invitation(row) if row else None

    async def set_invitation_status(
        self, q: Any, invitation_id: int, status: int, now: int
    ) -> None:
        await q.execute(
            "UPDATE group_invitation SET status = ?, updated_at = ? WHERE id = ?",
            (status, now, invitation_id),
        )

    async def pending_invitations_of(self, invitee_id: int, now: int) -> list[InvitationRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {_INV_COLS} FROM group_invitation WHERE invitee_id = ? AND status = 0"
            " AND expires_at > ? ORDER BY id DESC",
            (invitee_id, now),
        )
        return [_invitation(r) for r in rows]
