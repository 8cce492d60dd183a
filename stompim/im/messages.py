"""Chat message values: what a client may send, what is stored, what is published.

A client's message arrives as a JSON object; `parse_draft` turns it into a
validated `MessageDraft` (or raises ImError 9001 / 3003). The store hands back
`MessageRecord`s; `message_json` is the one JSON shape every consumer sees
(STOMP MESSAGE bodies, replay, history, the conversation list's lastMessage).
Recalled messages never show their content, whoever asks.

Call order inside a send: parse_draft -> ChatService checks rights -> the
repository stores -> message_json for the receipt-side publish.

Media messages (image, file, audio, video) may name an uploaded file by `fileId`
(in the body or in `extra`); the batch then swaps the draft for one whose `extra`
carries the file's facts (stompim.im.media_chat), and ChatService fills fresh signed
URLs (`extra.url`, `extra.thumbnail`) into each record it hands out, so stored
messages never hold a URL that expires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from stompim.im.errors import BAD_REQUEST, MESSAGE_TOO_LONG, ImError
from stompim.im.ids import id_value
from stompim.store.records import ChatType, MessageDraft, MessageRecord, MessageStatus

__all__ = [
    "MESSAGE_TYPES",
    "ChatType",
    "MessageDraft",
    "MessageRecord",
    "MessageStatus",
    "message_bytes",
    "message_json",
    "parse_draft",
    "target_from",
]


MESSAGE_TYPES = frozenset({"text", "image", "file", "audio", "video", "custom"})
# Keys a media message may carry in `extra`, with the JSON types each accepts.
_EXTRA_FIELDS: dict[str, tuple[type, ...]] = {
    "url": (str,),
    "name": (str,),
    "size": (int,),
    "width": (int, float),
    "height": (int, float),
    "duration": (int, float),
    "mime": (str,),
    "thumbnail": (str,),
    "fileId": (int,),
}
MEDIA_TYPES = frozenset({"image", "file", "audio", "video"})
# Keys of `extra` only the server writes (stompim.im.timeline_refs): a client's are refused.
SERVER_EXTRA = frozenset({"reply", "forward", "mentions"})
MAX_MENTIONS = 50
MAX_EXTRA_BYTES = 4096
MAX_CLIENT_MSG_ID = 64


def message_json(msg: MessageRecord) -> dict[str, Any]:
    """The camelCase JSON of a message; a recalled one has empty content and no extra."""
    out: dict[str, Any] = {
        "id": msg.id,
        "seq": msg.seq,
        "conversationId": msg.conversation_id,
        "chatType": msg.chat_type.label,
        "fromUserId": msg.sender_id,
    }
    if msg.chat_type is ChatType.PRIVATE:
        out["toUserId"] = msg.target_id
    else:
        out["groupId"] = msg.target_id
    recalled = msg.recalled
    out.update(
        type=msg.type,
        content="" if recalled else msg.content,
        extra=None if recalled else msg.extra,
        clientMsgId=msg.client_msg_id,
        createdAt=msg.created_at,
        status=int(msg.status),
    )
    # timeline, only when they apply (absent: not a reply, never edited): the quoted
    # message's id, and the time of the last edit
    reply = (msg.extra or {}).get("reply") if not recalled else None
    if isinstance(reply, dict):
        out["replyTo"] = reply.get("messageId")
    if msg.edited_at is not None and not recalled:
        out["edited"] = True
        out["editedAt"] = msg.edited_at
    return out


def message_bytes(msg: MessageRecord) -> bytes:
    return orjson.dumps(message_json(msg))


def _bad(message: str) -> ImError:
    return ImError(BAD_REQUEST, message, 400)


def _check_extra(msg_type: str, extra: Any) -> dict[str, Any] | None:
    if extra is None:
        return None
    if not isinstance(extra, dict):
        raise _bad("extra must be a JSON object")
    reserved = SERVER_EXTRA.intersection(extra)
    if reserved:
        raise _bad(f"extra.{min(reserved)} is written by the server (use replyTo,"
                   " forwardFrom or mentions)")
    if msg_type != "custom":
        for key, value in extra.items():
            allowed = _EXTRA_FIELDS.get(key)
            if allowed is None:
                raise _bad(f"extra.{key} is not a known media field")
            # bool is an int subclass in Python but not a number in JSON terms
            if isinstance(value, bool) or not isinstance(value, allowed):
                raise _bad(f"extra.{key} has the wrong type")
            if key == "size" and isinstance(value, int) and value < 0:
                raise _bad("extra.size must not be negative")
    try:
        size = len(orjson.dumps(extra))
    except orjson.JSONEncodeError:
        raise _bad("extra holds a value JSON cannot carry") from None
    if size > MAX_EXTRA_BYTES:
        raise _bad(f"extra is larger than {MAX_EXTRA_BYTES} bytes")
    return extra


def parse_draft(
    data: Mapping[str, Any], *, max_length: int, client_msg_id_header: str | None = None
) -> MessageDraft:
    """Validate a client's message JSON (the target fields are read by the caller).

    `type` defaults to text; text needs non-empty `content`; media types need
    `content` or `extra.url`. The `x-client-msg-id` header wins over the body's
    `clientMsgId` when both are present. Timeline references (resolved later, in the
    batch, by stompim.im.timeline_refs): `replyTo` (a message id), `mentions` (user ids,
    and "all"); `forwardFrom` (a message id) makes the draft a copy of that message, so
    its type, content and extra are not read.
    """
    cid = _client_msg_id(data, client_msg_id_header)
    forward = data.get("forwardFrom")
    if forward is not None and forward != "":
        return MessageDraft(type="text", content="", extra=None, client_msg_id=cid,
                            forward_from=id_value(forward, "forwardFrom"))
    msg_type = data.get("type", "text")
    if not isinstance(msg_type, str) or msg_type.lower() not in MESSAGE_TYPES:
        raise _bad(f"type must be one of {', '.join(sorted(MESSAGE_TYPES))}")
    msg_type = msg_type.lower()
    content = data.get("content", "")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise _bad("content must be a string")
    if len(content) > max_length:
        raise ImError(MESSAGE_TOO_LONG, f"message longer than {max_length} characters", 400)
    extra = _check_extra(msg_type, data.get("extra"))
    if msg_type == "text" and not content.strip():
        raise _bad("a text message needs content")
    file_id = _file_id(data, extra)
    if file_id is not None and msg_type not in MEDIA_TYPES:
        raise _bad("fileId is only for image, file, audio and video messages")
    if msg_type in MEDIA_TYPES and file_id is None and not content and not (
        extra and extra.get("url")
    ):
        raise _bad(f"a {msg_type} message needs fileId, content or extra.url")
    if msg_type == "custom" and not content and not extra:
        raise _bad("a custom message needs content or extra")
    reply = data.get("replyTo")
    mentions, mention_all = _mentions(data.get("mentions"))
    return MessageDraft(
        type=msg_type, content=content, extra=extra, client_msg_id=cid, file_id=file_id,
        reply_to=None if reply is None or reply == "" else id_value(reply, "replyTo"),
        mentions=mentions, mention_all=mention_all,
    )


def _client_msg_id(data: Mapping[str, Any], header: str | None) -> str | None:
    cid = header if header else data.get("clientMsgId")
    if cid is not None:
        if isinstance(cid, int) and not isinstance(cid, bool):
            cid = str(cid)
        if not isinstance(cid, str) or not cid or len(cid) > MAX_CLIENT_MSG_ID:
            raise _bad(f"clientMsgId must be a string of 1..{MAX_CLIENT_MSG_ID} characters")
    return cid or None


def _mentions(value: Any) -> tuple[tuple[int, ...], bool]:
    """`mentions`: a list of user ids, "all" among them for @all (group messages)."""
    if value is None:
        return (), False
    if not isinstance(value, list) or len(value) > MAX_MENTIONS:
        raise _bad(f"mentions must be a list of at most {MAX_MENTIONS} user ids or \"all\"")
    everyone = any(v == "all" for v in value)
    ids = sorted({id_value(v, "mentions") for v in value if v != "all"})
    return tuple(ids), everyone


def _file_id(data: Mapping[str, Any], extra: dict[str, Any] | None) -> int | None:
    """`fileId` of the body, else of `extra` (an id, as a number or a string of digits)."""
    value = data.get("fileId")
    if value is None and extra is not None:
        value = extra.get("fileId")
    return None if value is None else id_value(value, "fileId")


def target_from(data: Mapping[str, Any], *names: str) -> int:
    """The first of `names` present in `data`, as an id 1..2^63-1 (ImError 9001 naming
    the field otherwise: `toUserId: 1e30` is refused here, before any database)."""
    for name in names:
        value = data.get(name)
        if value is None or value == "":
            continue
        return id_value(value, name)
    raise _bad(f"the message must name its target ({' or '.join(names)})")
