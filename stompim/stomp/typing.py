"""The broker's DestinationHandler for typing signals: SEND to ``/app/chat/typing``.

Body: ``{"conversationId": <id>, "state": "start" | "stop"}`` (state defaults to
"start"). A malformed body is refused at once (9001: a RECEIPT with `x-error-code`, and
`/user/queue/errors`); everything else is answered with a plain RECEIPT once handled,
whether the signal went out or was dropped (not a member, over the session's budget,
redundant): the sender learns nothing about conversations it is not in, and the drops
are counted (`typing_*` in /metrics). What goes out is in stompim.im.typing_signals.

A session is named by its user and the JWT id it connected with (`token_id`): each
login is one budget, as each device logs in on its own.

`/app/chat/typing` cannot be subscribed: typing events arrive on the chat destinations
(`/user/queue/chat` for a private peer, `/topic/chat/<groupId>` for a group).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import orjson

from stompim.broker.auth import Principal
from stompim.im.errors import BAD_REQUEST, ImError
from stompim.im.typing_signals import TypingService, parse_signal
from stompim.stomp.destinations import APP_TYPING

__all__ = ["TypingDestinationHandler"]

_ANSWERED: Mapping[str, str] = {}


def session_name(principal: Principal) -> str:
    return f"{principal.user_id}:{principal.token_id or '-'}"


class TypingDestinationHandler:
    def __init__(self, typing: TypingService) -> None:
        self.typing = typing

    def handles(self, destination: str) -> bool:
        return destination == APP_TYPING

    async def authorize_subscribe(self, principal: Principal, destination: str) -> None:
        raise ImError(BAD_REQUEST, f"cannot subscribe to {destination[:80]}", 400)

    def ordered(self, destination: str) -> bool:
        return False

    async def head(self, principal: Principal, destination: str) -> int:
        return 0  # never asked: the destination cannot be subscribed

    async def replay(
        self, principal: Principal, destination: str, since: int
    ) -> list[tuple[dict[str, str], bytes]]:
        return []

    def begin_send(
        self, principal: Principal, destination: str, headers: Mapping[str, str], body: bytes
    ) -> asyncio.Future[Mapping[str, str]]:
        try:
            data = orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError:
            raise ImError(BAD_REQUEST, "the typing body must be JSON", 400) from None
        conversation_id, state = parse_signal(data)
        return asyncio.ensure_future(
            self._signal(principal, conversation_id, state)
        )

    async def _signal(
        self, principal: Principal, conversation_id: int, state: str
    ) -> Mapping[str, str]:
        await self.typing.signal(
            principal.user_id, session_name(principal), conversation_id, state
        )
        return _ANSWERED
