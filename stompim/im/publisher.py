"""What the IM domain tells the live side after a change, in the domain's own terms.

`im` never imports a binding or the broker: services are handed a Publisher at wiring
time (app.py hands them the STOMP binding's, stompim.stomp.publisher.StompPublisher,
which knows the destinations, headers and bodies). Calls name what happened (a message
stored, a read cursor moved, a user left a group), never where it goes.

Contract, for every implementation:
* each call is made after the change it reports is committed;
* a call returns once delivery on this node is done; delivery to other nodes is queued
  and never awaited, so a slow or absent Redis never delays a caller (a chat RECEIPT
  included);
* the event methods never raise for a delivery problem: the change is stored, and
  clients catch up from the store (history, resume). The two session controls
  (`close_user_sessions`, `left_group`) may raise; their callers log and go on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from stompim.store.records import MessageRecord

if TYPE_CHECKING:
    from stompim.im.typing_signals import TypingEvent

__all__ = ["NullPublisher", "Publisher"]


class Publisher(Protocol):
    async def message_stored(self, message: MessageRecord) -> None:
        """A new chat message: to every device of its participants (sender included)."""

    async def message_recalled(self, message: MessageRecord, operator_id: int) -> None:
        """`message` (as stored after the recall) was recalled by `operator_id`."""

    async def read_advanced(
        self, conversation_id: int, reader_id: int, seq: int, audience: Sequence[int]
    ) -> None:
        """`reader_id` has now read `conversation_id` up to `seq`; tell `audience`
        (the reader's own devices and, in a private chat, the peer)."""

    async def delivered(
        self, conversation_id: int, recipient_id: int, seq: int, audience: list[int]
    ) -> None:
        """A device of `recipient_id` has the private conversation up to `seq`: tell
        `audience` (the sender's devices; stompim.im.delivery)."""

    async def own_event(
        self, user_id: int, conversation_id: int, event: dict[str, Any]
    ) -> None:
        """A change only `user_id` sees (a draft, a pin; stompim.im.drafts): `event`
        for every device of theirs."""

    async def typing(self, event: TypingEvent) -> None:
        """A typing signal (never stored) for the other participants of its conversation
        (stompim.im.typing_signals)."""

    async def presence(
        self, user_id: int, audience: Iterable[int], event: dict[str, Any]
    ) -> None:
        """`user_id` came online or went offline (stompim.im.presence_events): `event`
        for the notification queues of `audience` (their friends)."""

    async def read_count(self, message: MessageRecord, read_count: int, member_count: int) -> None:
        """A group message's read count moved: tell its sender (stompim.im.readers)."""

    async def notification(self, user_id: int, notification: Mapping[str, Any]) -> None:
        """A stored notification-center entry (its JSON shape) for `user_id`."""

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        """End the user's live sessions (only those opened with `token_id` when it is
        given), cluster-wide."""

    async def left_group(self, user_id: int, group_id: int, reason: str) -> None:
        """`user_id` is no longer a member of `group_id`: stop their live delivery of
        its messages, cluster-wide."""


class NullPublisher:
    """A Publisher that delivers nothing: for tools and tests without a broker."""

    async def message_stored(self, message: MessageRecord) -> None:
        return None

    async def message_recalled(self, message: MessageRecord, operator_id: int) -> None:
        return None

    async def read_advanced(
        self, conversation_id: int, reader_id: int, seq: int, audience: Sequence[int]
    ) -> None:
        return None

    async def delivered(
        self, conversation_id: int, recipient_id: int, seq: int, audience: list[int]
    ) -> None:
        return None

    async def own_event(
        self, user_id: int, conversation_id: int, event: dict[str, Any]
    ) -> None:
        return None

    async def typing(self, event: TypingEvent) -> None:
        return None

    async def presence(
        self, user_id: int, audience: Iterable[int], event: dict[str, Any]
    ) -> None:
        return None

    async def read_count(self, message: MessageRecord, read_count: int, member_count: int) -> None:
        return None

    async def notification(self, user_id: int, notification: Mapping[str, Any]) -> None:
        return None

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        return None

    async def left_group(self, user_id: int, group_id: int, reason: str) -> None:
        return None
