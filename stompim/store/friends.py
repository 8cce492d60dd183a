"""Friend requests, friendships, the blacklist and the group whitelist.

Tables (see the "social" section of sql/mysql.sql): `friend_request`, `friend`
(one row per direction, soft-deleted by `status = 0`), `friend_block`,
`friend_whitelist`.

Why `friend_request.pending_pair`: it holds "<low id>:<high id>" while a request is
pending and NULL afterwards, under a UNIQUE index. At most one pending request can
then exist per pair of users *in either direction*, whatever the concurrency: the
losing INSERT gets DuplicateKey, and the service turns that into "already
pending" or "accept theirs" (crossed requests).

Methods taking `q` run on a Database or on a transaction (`async with
db.transaction() as tx`) — the caller decides the transaction boundary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stompim.store.database import Database

PENDING, ACCEPTED, REJECTED = 0, 1, 2


@dataclass(frozen=True)
class FriendRequestRecord:
    id: int
    from_user_id: int
    to_user_id: int
    message: str
    status: int  # 0 pending, 1 accepted, 2 rejected
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class FriendRecord:
    user_id: int
    friend_id: int
    remark: str
    muted: bool
    created_at: int


def pending_pair(a: int, b: int) -> str:
    lo, hi = sorted((a, b))
    return f"{lo}:{hi}"


def _request(row: dict[str, Any]) -> FriendRequestRecord:
    return FriendRequestRecord(
        id=int(row["id"]),
        from_user_id=int(row["from_user_id"]),
        to_user_id=int(row["to_user_id"]),
        message=row["message"],
        status=int(row["status"]),
        created_at=int(row["created_at"]),
        updated_at=int(row["updated_at"]),
    )


def _friend(row: dict[str, Any]) -> FriendRecord:
    return FriendRecord(
        user_id=int(row["user_id"]),
        friend_id=int(row["friend_id"]),
        remark=row["remark"],
        muted=bool(row["muted"]),
        created_at=int(row["created_at"]),
    )


@dataclass(frozen=True)
class PairFacts:
    """Blocks and friendships among a set of (user, other) pairs (FriendRepository.pair_facts)."""

    blocked: frozenset[tuple[int, int]]  # either one blocked the other
    friends: frozenset[tuple[int, int]]  # user has other as an active friend


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


_REQ_COLS = "id, from_user_id, to_user_id, message, status, created_at, updated_at"


class FriendRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _for_update(self) -> str:
        # SQLite transactions are already serialized (BEGIN IMMEDIATE).
        return " FOR UPDATE" if self.db.dialect == "mysql" else ""

    # -- requests -------------------------------------------------------------

    async def insert_request(
        self, from_id: int, to_id: int, message: str, now: int
    ) -> FriendRequestRecord:
        """Raises DuplicateKey when a request between the pair is pending."""
        res = await self.db.execute(
            "INSERT INTO friend_request (from_user_id, to_user_id, message, status,"
            " pending_pair, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?, ?)",
            (from_id, to_id, message, pending_pair(from_id, to_id), now, now),
        )
        assert res.lastrowid is not None
        return FriendRequestRecord(int(res.lastrowid), from_id, to_id, message, PENDING, now, now)

    async def pending_between(self, from_id: int, to_id: int) -> FriendRequestRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {_REQ_COLS} FROM friend_request WHERE from_user_id = ? AND to_user_id = ?"
            " AND status = 0",
            (from_id, to_id),
        )
        return _request(row) if row else None

    async def get_request(self, request_id: int, q: Any = None) -> FriendRequestRecord | None:
        row = await (q or self.db).fetch_one(
            f"SELECT {_REQ_COLS} FROM friend_request WHERE id = ?", (request_id,)
        )
        return _request(row) if row else None

    async def lock_request(self, q: Any, request_id: int) -> FriendRequestRecord | None:
        row = await q.fetch_one(
            f"SELECT {_REQ_COLS} FROM friend_request WHERE id = ?{self._for_update()}",
            (request_id,),
        )
        return _request(row) if row else None

    async def set_request_status(self, q: Any, request_id: int, status: int, now: int) -> None:
        await q.execute(
            "UPDATE friend_request SET status = ?, pending_pair = NULL, updated_at = ?"
            " WHERE id = ?",
            (status, now, request_id),
        )

    async def received(self, user_id: int, limit: int = 200) -> list[FriendRequestRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {_REQ_COLS} FROM friend_request WHERE to_user_id = ?"
            " ORDER BY id DESC LIMIT ?",
            (user_id, limit),
        )
        return [_request(r) for r in rows]

    async def sent(self, user_id: int, limit: int = 200) -> list[FriendRequestRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {_REQ_COLS} FROM friend_request WHERE from_user_id = ?"
            " ORDER BY id DESC LIMIT ?",
            (user_id, limit),
        )
        return [_request(r) for r in rows]

    async def count_pending(self, a: int, b: int) -> int:
        return int(
            await self.db.fetch_val(
                "SELECT COUNT(*) FROM friend_request WHERE status = 0 AND"
                " ((from_user_id = ? AND to_user_id = ?) OR (from_user_id = ? AND to_user_id = ?))",
                (a, b, b, a),
            )
            or 0
        )

    # -- friendships ------------------------------------------------------------

    async def make_friends(self, q: Any, a: int, b: int, now: int) -> None:
        """Create or restore both directions (remark kept, mute cleared)."""
        rows = [(a, b, now, now), (b, a, now, now)]
        if self.db.dialect == "mysql":
            sql = (
                "INSERT INTO friend (user_id, friend_id, remark, muted, status, created_at,"
                " updated_at) VALUES (?, ?, '', 0, 1, ?, ?) ON DUPLICATE KEY UPDATE"
                " created_at = IF(status = 1, created_at, VALUES(created_at)),"
                " muted = IF(status = 1, muted, 0), status = 1, updated_at = VALUES(updated_at)"
            )
        else:
            sql = (
                "INSERT INTO friend (user_id, friend_id, remark, muted, status, created_at,"
                " updated_at) VALUES (?, ?, '', 0, 1, ?, ?) ON CONFLICT(user_id, friend_id)"
                " DO UPDATE SET"
                " created_at = CASE WHEN status = 1 THEN created_at ELSE excluded.created_at END,"
                " muted = CASE WHEN status = 1 THEN muted ELSE 0 END,"
                " status = 1, updated_at = excluded.updated_at"
            )
        for row in rows:
            await q.execute(sql, row)

    async def get_friend(self, user_id: int, friend_id: int) -> FriendRecord | None:
        row = await self.db.fetch_one(
            "SELECT user_id, friend_id, remark, muted, created_at FROM friend"
            " WHERE user_id = ? AND friend_id = ? AND status = 1",
            (user_id, friend_id),
        )
        return _friend(row) if row else None

    async def friends_of(self, user_id: int) -> list[FriendRecord]:
        rows = await self.db.fetch_all(
            "SELECT user_id, friend_id, remark, muted, created_at FROM friend"
            " WHERE user_id = ? AND status = 1 ORDER BY created_at, friend_id",
            (user_id,),
        )
        return [_friend(r) for r in rows]

    async def active_friend_ids(self, user_id: int, candidates: list[int]) -> set[int]:
        if not candidates:
            return set()
        marks = ", ".join("?" for _ in candidates)
        rows = await self.db.fetch_all(
            f"SELECT friend_id FROM friend WHERE user_id = ? AND status = 1"
            f" AND friend_id IN ({marks})",
            (user_id, *candidates),
        )
        return {int(r["friend_id"]) for r in rows}

    async def delete_friendship(self, a: int, b: int, now: int) -> int:
        async with self.db.transaction() as tx:
            res = await tx.execute(
                "UPDATE friend SET status = 0, updated_at = ? WHERE status = 1 AND"
                " ((user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?))",
                (now, a, b, b, a),
            )
        return res.rowcount

    async def set_remark(self, user_id: int, friend_id: int, remark: str, now: int) -> int:
        res = await self.db.execute(
            "UPDATE friend SET remark = ?, updated_at = ? WHERE user_id = ? AND friend_id = ?"
            " AND status = 1",
            (remark, now, user_id, friend_id),
        )
        return res.rowcount

    async def set_muted(self, user_id: int, friend_id: int, muted: bool, now: int) -> int:
        res = await self.db.execute(
            "UPDATE friend SET muted = ?, updated_at = ? WHERE user_id = ? AND friend_id = ?"
            " AND status = 1",
            (1 if muted else 0, now, user_id, friend_id),
        )
        return res.rowcount

    # -- blacklist ----------------------------------------------------------------

    async def block(self, user_id: int, target_id: int, now: int) -> None:
        verb = "INSERT IGNORE" if self.db.dialect == "mysql" else "INSERT OR IGNORE"
        await self.db.execute(
            f"{verb} INTO friend_block (user_id, blocked_id, created_at) VALUES (?, ?, ?)",
            (user_id, target_id, now),
        )

    async def unblock(self, user_id: int, target_id: int) -> int:
        res = await self.db.execute(
            "DELETE FROM friend_block WHERE user_id = ? AND blocked_id = ?", (user_id, target_id)
        )
        return res.rowcount

    async def is_blocked(self, by_user_id: int, target_id: int) -> bool:
        return (
            await self.db.fetch_val(
                "SELECT 1 FROM friend_block WHERE user_id = ? AND blocked_id = ?",
                (by_user_id, target_id),
            )
            is not None
        )

    async def blocked_either(self, a: int, b: int, q: Any = None) -> bool:
        return (
            await (q or self.db).fetch_val(
                "SELECT 1 FROM friend_block WHERE (user_id = ? AND blocked_id = ?)"
                " OR (user_id = ? AND blocked_id = ?) LIMIT 1",
                (a, b, b, a),
            )
            is not None
        )

    # -- batch read for chat's group commit (one query for a whole batch of sends) ----

    async def pair_facts(self, pairs: Iterable[tuple[int, int]]) -> PairFacts:
        """For many (user, other) pairs at once: which are blocked either way
        (`blocked_either`) and which are friendships from user to other (`get_friend`)."""
        wanted = set(pairs)
        if not wanted:
            return PairFacts(frozenset(), frozenset())
        ids = sorted({u for pair in wanted for u in pair})
        users = sorted({u for u, _ in wanted})
        others = sorted({o for _, o in wanted})
        rows = await self.db.fetch_all(
            f"SELECT 0 AS kind, user_id, blocked_id AS other_id FROM friend_block"
            f" WHERE user_id IN ({_marks(ids)}) AND blocked_id IN ({_marks(ids)})"
            f" UNION ALL SELECT 1 AS kind, user_id, friend_id AS other_id FROM friend"
            f" WHERE status = 1 AND user_id IN ({_marks(users)})"
            f" AND friend_id IN ({_marks(others)})",
            (*ids, *ids, *users, *others),
        )
        blocks: set[tuple[int, int]] = set()
        friends: set[tuple[int, int]] = set()
        for r in rows:
            (friends if int(r["kind"]) else blocks).add((int(r["user_id"]), int(r["other_id"])))
        blocked = {(a, b) for a, b in wanted if (a, b) in blocks or (b, a) in blocks}
        return PairFacts(frozenset(blocked), frozenset(friends & wanted))

    async def blocked_list(self, user_id: int) -> list[tuple[int, int]]:
        """(blocked user id, blocked at) pairs, newest first."""
        rows = await self.db.fetch_all(
            "SELECT blocked_id, created_at FROM friend_block WHERE user_id = ?"
            " ORDER BY created_at DESC, blocked_id",
            (user_id,),
        )
        return [(int(r["blocked_id"]), int(r["created_at"])) for r in rows]

    # -- whitelist -------------------------------------------------------------------

    async def whitelist_add(self, user_id: int, member_id: int, now: int) -> None:
        verb = "INSERT IGNORE" if self.db.dialect == "mysql" else "INSERT OR IGNORE"
        await self.db.execute(
            f"{verb} INTO friend_whitelist (user_id, member_id, created_at) VALUES (?, ?, ?)",
            (user_id, member_id, now),
        )

    async def whitelist_remove(self, user_id: int, member_id: int) -> int:
        res = await self.db.execute(
            "DELETE FROM friend_whitelist WHERE user_id = ? AND member_id = ?",
            (user_id, member_id),
        )
        return res.rowcount

    async def whitelist(self, user_id: int) -> list[tuple[int, int]]:
        """(member id, added at) pairs in the order they were added."""
        rows = await self.db.fetch_all(
            "SELECT member_id, created_at FROM friend_whitelist WHERE user_id = ?"
            " ORDER BY created_at, member_id",
            (user_id,),
        )
        return [(int(r["member_id"]), int(r["created_at"])) for r in rows]
