"""One chat send on its way through the batch writer (stompim.im.chat_batch): the
queued `PendingSend`, its `SendFuture` and the `SendResult` it resolves with, and the
refusals a batch gives out.

A module of its own so that the rights checks (stompim.im.chat_facts) and the draft
resolvers (stompim.im.timeline_refs) can name a send without importing the writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stompim.errors import InvalidValue, StoreError
from stompim.im.errors import BAD_REQUEST, SEND_FAILED, ImError
from stompim.im.messages import ChatType, MessageDraft, MessageRecord
from stompim.store.conversations import pair_key


@dataclass(frozen=True)
class SendResult:
    message: MessageRecord
    duplicate: bool  # the clientMsgId was already stored; nothing new was written or published


class SendFuture(asyncio.Future[SendResult]):
    """The Future of one queued send. `cancel()` withdraws the send while it waits in
    the queue; once the writer took it (`committing`), cancel() returns False and the
    Future still resolves with the send's outcome: whether a batch in flight commits
    cannot be undone, and the caller must be able to tell."""

    committing = False

    def cancel(self, msg: Any | None = None) -> bool:
        if self.committing:
            return False
        return super().cancel(msg)


def store_failed() -> ImError:
    return ImError(SEND_FAILED, "the message could not be stored; send it again", 503)


def refused_by_store(exc: StoreError) -> ImError:
    """The refusal of one message the store would not take (the rest of its batch was)."""
    if isinstance(exc, InvalidValue):
        return ImError(BAD_REQUEST, f"the message holds a value the store refuses: {exc}", 400)
    return store_failed()


def reused_client_msg_id() -> ImError:
    """clientMsgId is unique per sender, not per conversation: a front end that
    numbers messages per chat may reuse one in another chat. That is no resend, and
    acknowledging it with the other chat's message would report as sent a message
    nobody receives, so it is refused (nothing stored)."""
    return ImError(
        SEND_FAILED,
        "clientMsgId already names a message of another conversation; use a new one",
        409,
    )


DraftResolver = Callable[
    [Sequence["PendingSend"]], Awaitable[list[MessageDraft | ImError]]
]
"""The sends of a batch (conversation ids attached) -> each draft to store, or its refusal."""


# -- the queue and its writer -------------------------------------------------------


@dataclass(eq=False)
class PendingSend:
    """One send waiting for its batch; the writer fills in the rest and resolves `done`."""

    chat_type: ChatType
    sender_id: int
    target_id: int  # the recipient (private) or the group
    draft: MessageDraft
    now: int
    done: SendFuture
    joined_at: int = 0  # group: the sender's join time (kept on their cursor)
    system: bool = False  # a system message (stompim.im.system_messages): no rights check
    conversation_id: int = 0
    leader: PendingSend | None = field(default=None)  # same clientMsgId earlier in the batch

    @property
    def key(self) -> str:
        if self.chat_type is ChatType.GROUP:
            return f"g:{self.target_id}"
        return pair_key(self.sender_id, self.target_id)

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)

    def settle(self, record: MessageRecord, duplicate: bool) -> None:
        if duplicate and record.conversation_id != self.conversation_id:
            self.fail(reused_client_msg_id())
        elif not self.done.done():
            self.done.set_result(SendResult(record, duplicate))
