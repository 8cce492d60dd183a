"""Models of /api/notification: the notification center."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from stompim.http.fields import Id
from stompim.http.models.base import Body, View
from stompim.im.notifications import NotificationType

MAX_IDS = 500


class MarkRead(Body):
    ids: list[Id] = Field(max_length=MAX_IDS, fail_fast=True)


class Notification(View):
    id: int
    user_id: int
    type: NotificationType
    message: str
    extra: dict[str, Any] = Field(description="event details (groupId, requestId, ...)")
    read: bool
    created_at: int = Field(description="epoch milliseconds")


class Updated(View):
    updated: int = Field(description="how many changed")
