"""JSON views of domain records that depend on who asks (the User model renders them)."""

from __future__ import annotations

from typing import Any

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
