"""JSON views of domain records (camelCase), shared by every route module."""

from __future__ import annotations

from typing import Any

from stompim.http.schema import INT, STR, nullable, obj, s
from stompim.store.users import UserRecord


def user_json(user: UserRecord, *, self_view: bool = False) -> dict[str, Any]:
    """Public profile; `phone` and `email` only in the user's own view (else null)."""
    return {
        "id": user.id,
        "username": user.username,
        "nickname": user.nickname,
        "avatar": user.avatar,
        "phone": user.phone if self_view else None,
        "signature": user.signature,
        "gender": user.gender,
        "email": user.email if self_view else None,
        "region": user.region,
        "status": user.status,
        "createdAt": user.created_at,
    }


USER_SCHEMA = obj(
    {
        "id": INT,
        "username": STR,
        "nickname": STR,
        "avatar": s(STR, description="http(s) URL or empty"),
        "phone": s(nullable(STR), description="only in the user's own view"),
        "signature": STR,
        "gender": s(INT, enum=[0, 1, 2], description="0 unknown, 1 male, 2 female"),
        "email": s(nullable(STR), description="only in the user's own view"),
        "region": STR,
        "status": s(INT, description="1 active"),
        "createdAt": s(INT, description="epoch milliseconds"),
    },
    required=("id", "username", "nickname", "status", "createdAt"),
)
