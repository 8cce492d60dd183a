"""Ways into a group besides an invitation: join requests and invite links.

Tables (the "social" section of sql/*.sql): `group_application` (one row per request;
status 0 pending, 1 approved, 2 rejected) and `group_invite_link` (a code with an
expiry and a use limit; `max_uses` 0 means no limit; status 1 active, 0 revoked).

Lock order, as every group change (stompim.store.groups): the group row first
(`GroupRepository.lock_group`), then the application or link row. Methods taking `q`
run inside that transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stompim.store.database import Database

APP_PENDING, APP_APPROVED, APP_REJECTED = 0, 1, 2

_APP_COLS = "id, group_id, applicant_id, message, status, handler_id, created_at, updated_at"
_LINK_COLS = "id, group_id, code, creator_id, expires_at, max_uses, uses, status, created_at"


@dataclass(frozen=True)
class ApplicationRecord:
    id: int
    group_id: int
    applicant_id: int
    message: str
    status: int  # APP_PENDING, APP_APPROVED, APP_REJECTED
    handler_id: int  # who approved or rejected (0: nobody yet, or an open group)
    created_at: int
    updated_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "groupId": self.group_id,
            "applicantId": self.applicant_id,
            "message": self.message,
            "status": self.status,
            "handlerId": self.handler_id,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


@dataclass(frozen=True)
class InviteLinkRecord:
    id: int
    group_id: int
    code: str
    creator_id: int
    expires_at: int
    max_uses: int  # 0: no limit
    uses: int
    status: int  # 1 active, 0 revoked
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "groupId": self.group_id,
            "creatorId": self.creator_id,
            "expiresAt": self.expires_at,
            "maxUses": self.max_uses,
            "uses": self.uses,
            "createdAt": self.created_at,
        }


def _app(row: dict[str, Any]) -> ApplicationRecord:
    return ApplicationRecord(
        id=int(row["id"]), group_id=int(row["group_id"]),
        applicant_id=int(row["applicant_id"]), message=str(row["message"]),
        status=int(row["status"]), handler_id=int(row["handler_id"]),
        created_at=int(row["created_at"]), updated_at=int(row["updated_at"]),
    )


def _link(row: dict[str, Any]) -> InviteLinkRecord:
    return InviteLinkRecord(
        id=int(row["id"]), group_id=int(row["group_id"]), code=str(row["code"]),
        creator_id=int(row["creator_id"]), expires_at=int(row["expires_at"]),
        max_uses=int(row["max_uses"]), uses=int(row["uses"]), status=int(row["status"]),
        created_at=int(row["created_at"]),
    )


class GroupJoinRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _for_update(self) -> str:
        return " FOR UPDATE" if self.db.dialect == "mysql" else ""

    # -- applications ----------------------------------------------------------------

    async def insert_application(
        self, q: Any, group_id: int, applicant_id: int, message: str, status: int,
        handler_id: int, now: int,
    ) -> ApplicationRecord:
        res = await q.execute(
            "INSERT INTO group_application (group_id, applicant_id, message, status,"
            " handler_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (group_id, applicant_id, message, status, handler_id, now, now),
        )
        assert res.lastrowid is not None
        return ApplicationRecord(
            int(res.lastrowid), group_id, applicant_id, message, status, handler_id, now, now
        )

    async def pending_of(
        self, q: Any, group_id: int, applicant_id: int
    ) -> ApplicationRecord | None:
        row = await q.fetch_one(
            f"SELECT {_APP_COLS} FROM group_application WHERE group_id = ? AND applicant_id = ?"
            " AND status = 0 ORDER BY id DESC LIMIT 1",
            (group_id, applicant_id),
        )
        return _app(row) if row else None

    async def renew_application(self, q: Any, app_id: int, message: str, now: int) -> None:
        await q.execute(
            "UPDATE group_application SET message = ?, updated_at = ? WHERE id = ?",
            (message, now, app_id),
        )

    async def get_application(self, app_id: int) -> ApplicationRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {_APP_COLS} FROM group_application WHERE id = ?", (app_id,)
        )
        return _app(row) if row else None

    async def lock_application(self, q: Any, app_id: int) -> ApplicationRecord | None:
        row = await q.fetch_one(
            f"SELECT {_APP_COLS} FROM group_application WHERE id = ?{self._for_update()}",
            (app_id,),
        )
        return _app(row) if row else None

    async def answer_application(
        self, q: Any, app_id: int, status: int, handler_id: int, now: int
    ) -> None:
        await q.execute(
            "UPDATE group_application SET status = ?, handler_id = ?, updated_at = ?"
            " WHERE id = ?",
            (status, handler_id, now, app_id),
        )

    async def pending_page(
        self, group_id: int, offset: int, limit: int
    ) -> tuple[list[ApplicationRecord], int]:
        """Pending requests of a group, oldest first (the order to answer them in)."""
        rows = await self.db.fetch_all(
            f"SELECT {_APP_COLS} FROM group_application WHERE group_id = ? AND status = 0"
            " ORDER BY id LIMIT ? OFFSET ?",
            (group_id, limit, offset),
        )
        total = await self.db.fetch_val(
            "SELECT COUNT(*) FROM group_application WHERE group_id = ? AND status = 0",
            (group_id,),
        )
        return [_app(r) for r in rows], int(total or 0)

    async def admin_ids(self, group_id: int) -> list[int]:
        """The owner and admins of a group (who answer its join requests)."""
        rows = await self.db.fetch_all(
            "SELECT user_id FROM group_member WHERE group_id = ? AND status = 1 AND role >= 1"
            " ORDER BY role DESC, user_id",
            (group_id,),
        )
        return [int(r["user_id"]) for r in rows]

    # -- invite links ----------------------------------------------------------------------

    async def insert_link(
        self, group_id: int, code: str, creator_id: int, expires_at: int, max_uses: int,
        now: int,
    ) -> InviteLinkRecord:
        res = await self.db.execute(
            "INSERT INTO group_invite_link (group_id, code, creator_id, expires_at, max_uses,"
            " uses, status, created_at) VALUES (?, ?, ?, ?, ?, 0, 1, ?)",
            (group_id, code, creator_id, expires_at, max_uses, now),
        )
        assert res.lastrowid is not None
        return InviteLinkRecord(
            int(res.lastrowid), group_id, code, creator_id, expires_at, max_uses, 0, 1, now
        )

    async def link_by_code(self, code: str, q: Any = None) -> InviteLinkRecord | None:
        lock = self._for_update() if q is not None else ""
        row = await (q or self.db).fetch_one(
            f"SELECT {_LINK_COLS} FROM group_invite_link WHERE code = ?{lock}", (code,)
        )
        return _link(row) if row else None

    async def use_link(self, q: Any, link_id: int) -> None:
        await q.execute(
            "UPDATE group_invite_link SET uses = uses + 1 WHERE id = ?", (link_id,)
        )
