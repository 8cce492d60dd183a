"""Users table access: the one place that writes SQL about accounts.

Duplicates are decided by the database's unique keys (username, phone), never by a
check-then-insert, so two concurrent registrations of one name cannot both succeed: the
loser gets DuplicateKey with `key` "username" or "phone" (the accounts service turns it
into 1001 / 1005). A write to a user that does not exist raises NotFoundInStore.
Comparisons are exact (binary collation on MySQL, BINARY on SQLite): "Alice" and "alice"
are different usernames. An empty phone is stored as NULL (phone is optional and unique).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stompim.errors import DuplicateKey, NotFoundInStore
from stompim.store.database import Database

PROFILE_FIELDS = frozenset({"nickname", "avatar", "signature", "gender", "email", "region"})
_INT_FIELDS = frozenset({"gender"})
_COLUMNS = (
    "id, username, password_hash, nickname, avatar, phone, signature, gender, email, "
    "region, status, credential_gen, created_at, updated_at"
)
_IN_CHUNK = 500
STATUS_ACTIVE = 1
STATUS_DISABLED = 0


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class UserRecord:
    """One row of `users`. `status` 1 active, 0 disabled; times are epoch milliseconds.
    `credential_gen` is the credential generation: tokens and sessions of an older one
    are no longer accepted (see `bump_generation`)."""

    id: int
    username: str
    password_hash: str
    nickname: str
    avatar: str
    phone: str | None
    signature: str
    gender: int
    email: str
    region: str
    status: int
    created_at: int
    updated_at: int
    credential_gen: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> UserRecord:
        return cls(
            id=int(row["id"]),
            username=row["username"],
            password_hash=row["password_hash"],
            nickname=row["nickname"],
            avatar=row["avatar"],
            phone=row["phone"],
            signature=row["signature"],
            gender=int(row["gender"]),
            email=row["email"],
            region=row["region"],
            status=int(row["status"]),
            created_at=int(row["created_at"]),
            updated_at=int(row["updated_at"]),
            credential_gen=int(row["credential_gen"]),
        )


class UserRepository:
    """CRUD over `users`. Construct once per Database; stateless otherwise."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, *, username: str, password_hash: str, nickname: str, phone: str | None = None
    ) -> UserRecord:
        """Insert an active user; DuplicateKey (`key` "username" or "phone") when taken."""
        phone = phone or None
        ts = now_ms()
        try:
            result = await self._db.execute(
                "INSERT INTO users (username, password_hash, nickname, phone, status,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (username, password_hash, nickname, phone, STATUS_ACTIVE, ts, ts),
            )
        except DuplicateKey as exc:
            raise await self._duplicate_error(exc, username, phone) from exc
        if result.lastrowid is not None:
            user = await self.get(result.lastrowid)
        else:
            user = await self.by_username(username)
        if user is None:  # pragma: no cover - the row was just inserted
            raise RuntimeError("inserted user not found")
        return user

    async def _duplicate_error(
        self, exc: DuplicateKey, username: str, phone: str | None
    ) -> DuplicateKey:
        text = str(exc).lower()
        if "phone" in text:
            which = "phone"
        elif "username" in text:
            which = "username"
        elif phone is not None and await self.by_phone(phone) is not None:
            which = "phone"
        else:
            which = "username"
        return DuplicateKey(f"{which} already taken", key=which)

    async def get(self, user_id: int) -> UserRecord | None:
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return None if row is None else UserRecord.from_row(row)

    async def get_many(self, ids: Iterable[int]) -> dict[int, UserRecord]:
        """Users by id; ids that do not exist are simply absent from the result."""
        wanted = sorted({int(i) for i in ids})
        found: dict[int, UserRecord] = {}
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start:start + _IN_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            rows = await self._db.fetch_all(
                f"SELECT {_COLUMNS} FROM users WHERE id IN ({marks})", chunk
            )
            for row in rows:
                user = UserRecord.from_row(row)
                found[user.id] = user
        return found

    async def by_username(self, username: str) -> UserRecord | None:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM users WHERE username = ?", (username,)
        )
        return None if row is None else UserRecord.from_row(row)

    async def by_phone(self, phone: str) -> UserRecord | None:
        if not phone:
            return None
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM users WHERE phone = ?", (phone,))
        return None if row is None else UserRecord.from_row(row)

    async def update_profile(self, user_id: int, changes: Mapping[str, Any]) -> UserRecord:
        """Change profile columns only (PROFILE_FIELDS); anything else is a ValueError."""
        unknown = set(changes) - PROFILE_FIELDS
        if unknown:
            raise ValueError(f"not profile fields: {sorted(unknown)}")
        if changes:
            names = sorted(changes)
            values: list[Any] = []
            for name in names:
                value = changes[name]
                if name in _INT_FIELDS:
                    if isinstance(value, bool) or not isinstance(value, int):
                        raise ValueError(f"{name} must be an integer")
                elif not isinstance(value, str):
                    raise ValueError(f"{name} must be a string")
                values.append(value)
            assignments = ", ".join(f"{name} = ?" for name in names)
            result = await self._db.execute(
                f"UPDATE users SET {assignments}, updated_at = ? WHERE id = ?",
                (*values, now_ms(), user_id),
            )
            if result.rowcount == 0:
                raise NotFoundInStore(f"no user {user_id}")
        user = await self.get(user_id)
        if user is None:
            raise NotFoundInStore(f"no user {user_id}")
        return user

    async def set_password(self, user_id: int, password_hash: str) -> int:
        """Store a new hash and move the credential generation on (one statement, so no
        reader sees the new password with the old generation); returns the new one."""
        result = await self._db.execute(
            "UPDATE users SET password_hash = ?, credential_gen = credential_gen + 1,"
            " updated_at = ? WHERE id = ?",
            (password_hash, now_ms(), user_id),
        )
        if result.rowcount == 0:
            raise NotFoundInStore(f"no user {user_id}")
        return await self.generation(user_id)

    async def set_status(self, user_id: int, status: int) -> None:
        """Disabling also moves the credential generation on (its tokens and sessions
        end, and enabling again does not bring them back)."""
        if status not in (STATUS_ACTIVE, STATUS_DISABLED):
            raise ValueError(f"status must be 0 or 1, got {status!r}")
        bump = ", credential_gen = credential_gen + 1" if status == STATUS_DISABLED else ""
        result = await self._db.execute(
            f"UPDATE users SET status = ?{bump}, updated_at = ? WHERE id = ?",
            (status, now_ms(), user_id),
        )
        if result.rowcount == 0:
            raise NotFoundInStore(f"no user {user_id}")

    async def bump_generation(self, user_id: int) -> int:
        """Move the credential generation on (an admin revocation); returns the new one."""
        result = await self._db.execute(
            "UPDATE users SET credential_gen = credential_gen + 1, updated_at = ?"
            " WHERE id = ?",
            (now_ms(), user_id),
        )
        if result.rowcount == 0:
            raise NotFoundInStore(f"no user {user_id}")
        return await self.generation(user_id)

    async def generation(self, user_id: int) -> int:
        value = await self._db.fetch_val(
            "SELECT credential_gen FROM users WHERE id = ?", (user_id,)
        )
        if value is None:
            raise NotFoundInStore(f"no user {user_id}")
        return int(value)

    async def list_page(
        self, offset: int, limit: int, status: int | None = None
    ) -> list[UserRecord]:
        """Users in id order, `limit` of them from `offset`; only `status` when given."""
        where, params = ("WHERE status = ?", [status]) if status is not None else ("", [])
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM users {where} ORDER BY id LIMIT ? OFFSET ?",
            (*params, int(limit), int(offset)),
        )
        return [UserRecord.from_row(r) for r in rows]

    async def count(self, status: int | None = None) -> int:
        if status is None:
            return int(await self._db.fetch_val("SELECT COUNT(*) FROM users"))
        return int(await self._db.fetch_val("SELECT COUNT(*) FROM users WHERE status = ?",
                                            (status,)))

    async def search(self, keyword: str, limit: int = 20) -> list[UserRecord]:
        """Active users whose username or phone equals `keyword` exactly (no wildcards)."""
        keyword = keyword.strip()
        if not keyword or limit <= 0:
            return []
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM users WHERE status = ? AND (username = ? OR phone = ?)"
            " ORDER BY id LIMIT ?",
            (STATUS_ACTIVE, keyword, keyword, int(limit)),
        )
        return [UserRecord.from_row(r) for r in rows]
