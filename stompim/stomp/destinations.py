"""The STOMP names and headers of the IM domain: destinations, MESSAGE and RECEIPT headers.

Destinations (DESIGN.md "Destinations"):

* ``/queue/chat/<userId>``: every private conversation of that user, multiplexed; its
  ``seq`` header is the message's place in that user's inbox (1, 2, 3... per user,
  committed in order: stompim.store.messages), so one number orders the whole queue for
  resume (``x-since-seq``) and de-duplication, exactly, whichever node stored what;
  ``x-inbox-seq`` repeats it; the conversation's own seq is in ``x-conversation-seq``
  and in the body.
* ``/topic/chat/<groupId>``: the group's conversation; ``seq`` is that conversation's seq.

Both ``seq`` headers are contiguous and committed in order, which the broker relies on
(DestinationHandler.ordered): it delivers a subscription's messages in ``seq`` order,
drops one it already delivered and fetches a hole from the store.
* ``/app/chat/private``, ``/app/chat/group``: Spring application destinations; the JSON
  body names the target.
* ``/app/chat/typing``: typing signals (stompim.stomp.typing); never stored.
* ``/queue/notification/<userId>``: the notification center.

Ids in destinations and ``x-since-seq`` are ASCII digits in signed 64-bit range: a
wire value is checked as text here, before it becomes a number anywhere.
"""

from __future__ import annotations

from stompim.im.errors import BAD_REQUEST, ImError
from stompim.im.ids import INT64_MAX, ascii_int
from stompim.im.messages import ChatType, MessageRecord

__all__ = [
    "APP_GROUP",
    "APP_PRIVATE",
    "APP_TYPING",
    "QUEUE_PREFIX",
    "TOPIC_PREFIX",
    "chat_destinations",
    "chat_queue",
    "event_headers",
    "group_topic",
    "id_in",
    "message_headers",
    "notification_queue",
    "receipt_headers",
    "since_seq",
]

QUEUE_PREFIX = "/queue/chat/"
TOPIC_PREFIX = "/topic/chat/"
APP_PRIVATE = "/app/chat/private"
APP_GROUP = "/app/chat/group"
APP_TYPING = "/app/chat/typing"
NOTIFICATION_PREFIX = "/queue/notification/"


def chat_queue(user_id: int) -> str:
    return f"{QUEUE_PREFIX}{user_id}"


def group_topic(group_id: int) -> str:
    return f"{TOPIC_PREFIX}{group_id}"


def notification_queue(user_id: int) -> str:
    return f"{NOTIFICATION_PREFIX}{user_id}"


def id_in(destination: str, prefix: str) -> int:
    """The id after `prefix`: 1..2^63-1 in ASCII digits, else ImError 9001."""
    value = ascii_int(destination[len(prefix):])
    if value is None or not 1 <= value <= INT64_MAX:
        raise ImError(BAD_REQUEST, f"bad chat destination {destination[:80]}", 400)
    return value


def since_seq(value: int | str) -> int:
    """An ``x-since-seq`` value: 0..2^63-1 (given as ASCII digits), else ImError 9001."""
    number = ascii_int(value) if isinstance(value, str) else value
    if number is None or isinstance(number, bool) or not 0 <= number <= INT64_MAX:
        raise ImError(BAD_REQUEST, f"x-since-seq must be an integer from 0 to {INT64_MAX}", 400)
    return number


def chat_destinations(message: MessageRecord) -> list[str]:
    """Where a chat message goes: the group topic, or both users' private queues (the
    recipient's, and the sender's for their other devices)."""
    if message.chat_type is ChatType.GROUP:
        return [group_topic(message.target_id)]
    return [chat_queue(message.target_id), chat_queue(message.sender_id)]


def message_headers(message: MessageRecord, destination: str) -> dict[str, str]:
    """MESSAGE headers for `message` on `destination` (live and replay alike).

    The stored id is the MESSAGE's `message-id` (the broker keeps a server-side
    publisher's `message-id` for every subscriber; front ends read it); the
    `x-message-id` copy stays for clients written against earlier versions.
    """
    if destination.startswith(QUEUE_PREFIX):
        inbox = str(message.inbox_seq(id_in(destination, QUEUE_PREFIX)))
        return {
            "message-id": str(message.id),
            "x-message-id": str(message.id),
            "seq": inbox,
            "x-inbox-seq": inbox,
            "x-conversation-seq": str(message.seq),
            "conversation-id": str(message.conversation_id),
            "x-sender-id": str(message.sender_id),
            "content-type": "application/json",
        }
    return {
        "message-id": str(message.id),
        "x-message-id": str(message.id),
        "seq": str(message.seq),
        "x-conversation-seq": str(message.seq),
        "conversation-id": str(message.conversation_id),
        "x-sender-id": str(message.sender_id),
        "content-type": "application/json",
    }


def event_headers(event: str, conversation_id: int) -> dict[str, str]:
    """Headers of a chat event (read, recall). No `seq` header: the broker orders and
    de-duplicates replayed vs live messages by `seq`, and events are not replayed."""
    return {
        "x-event": event,
        "conversation-id": str(conversation_id),
        "content-type": "application/json",
    }


def receipt_headers(message: MessageRecord, duplicate: bool) -> dict[str, str]:
    """The RECEIPT of a stored chat SEND: the presence of `message-id` means "stored"."""
    out = {
        "message-id": str(message.id),
        "seq": str(message.seq),
        "conversation-id": str(message.conversation_id),
    }
    if duplicate:
        out["x-duplicate"] = "true"
    return out
