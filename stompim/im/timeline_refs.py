"""Sends that refer to stored things: replies, forwards and mentions, resolved per batch.

A client names them in its JSON (`replyTo`, `forwardFrom`, `mentions`; see
stompim.im.messages.parse_draft); the send batch (stompim.im.chat_batch, step c) hands
every send of a batch, its conversation already attached, to `TimelineRefs.resolve`,
which loads what they name in a few queries for the whole batch and returns each draft
to store, with the server-written keys of `extra`, or the send's own refusal:

* `replyTo`: a message of the same conversation (else 3002). `extra.reply` keeps a
  quoted summary: `{messageId, seq, fromUserId, type, content, recalled}`, content cut
  to QUOTE_CHARS; the summary is the one shown later unless the original is recalled,
  which every reader then sees (`recalled: true`, empty content: stompim.im.message_actions).
* `forwardFrom`: a message the sender may read (a participant of its private chat, an
  active member of its group; else 3002, as for a message that does not exist) and not
  recalled (3002). The new message copies its type, content and extra (a file is
  checked again for the sender by media, which runs after this), plus
  `extra.forward = {messageId, fromUserId, chatType, createdAt}` naming the first
  origin when the source was itself a forward. The sender's rights at the target were
  checked by the batch like any send's.
* `mentions` (group messages only, else 9001): active members of the group (else 9001
  naming the first who is not); "all" needs the owner or an admin, or the group's
  `allowMemberMentionAll` (4003 otherwise). Stored as `extra.mentions = {userIds, all}`;
  after the commit ChatService records them for `mentionCount`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stompim.im.errors import (
    BAD_REQUEST,
    GROUP_PERMISSION_DENIED,
    MESSAGE_NOT_FOUND,
    ImError,
)
from stompim.im.messages import SERVER_EXTRA, ChatType, MessageDraft, MessageRecord
from stompim.im.roles import Role
from stompim.store.messages import MessageRepository

if TYPE_CHECKING:
    from stompim.im.chat_facts import SocialFacts
    from stompim.im.chat_sends import PendingSend

__all__ = ["QUOTE_CHARS", "TimelineRefs", "quote_of"]

QUOTE_CHARS = 100


def quote_of(msg: MessageRecord) -> dict[str, Any]:
    """The summary a reply keeps of the message it answers."""
    text = msg.content if not msg.recalled else ""
    if not text and msg.extra and not msg.recalled:
        name = msg.extra.get("name")
        text = name if isinstance(name, str) else ""
    return {
        "messageId": msg.id,
        "seq": msg.seq,
        "fromUserId": msg.sender_id,
        "type": msg.type,
        "content": text[:QUOTE_CHARS],
        "recalled": msg.recalled,
    }


def _not_found(what: str) -> ImError:
    return ImError(MESSAGE_NOT_FOUND, f"{what}: message not found", 404)


class TimelineRefs:
    def __init__(self, messages: MessageRepository, facts: SocialFacts) -> None:
        self.messages = messages
        self.facts = facts

    async def resolve(self, sends: Sequence[PendingSend]) -> list[MessageDraft | ImError]:
        """Each send's draft with its references filled in, or its refusal (in order)."""
        wanted = {
            ref
            for p in sends
            for ref in (p.draft.reply_to, p.draft.forward_from)
            if ref is not None
        }
        if not wanted and not any(p.draft.mentions or p.draft.mention_all for p in sends):
            return [p.draft for p in sends]
        found = await self.messages.get_many(wanted)
        readers = await self._source_members(sends, found)
        mentioned = await self._mention_facts(sends)
        out: list[MessageDraft | ImError] = []
        for p in sends:
            try:
                draft = p.draft
                if draft.forward_from is not None:
                    draft = self._forward(p, found.get(draft.forward_from), readers)
                if draft.reply_to is not None:
                    draft = self._reply(p, draft, found.get(draft.reply_to))
                if draft.mentions or draft.mention_all:
                    draft = self._mentions(p, draft, *mentioned)
                out.append(draft)
            except ImError as exc:
                out.append(exc)
        return out

    async def _source_members(
        self, sends: Sequence[PendingSend], found: Mapping[int, MessageRecord]
    ) -> Mapping[tuple[int, int], Any]:
        """Memberships of forwarders in the groups their sources were sent in."""
        pairs = set()
        for p in sends:
            src = found.get(p.draft.forward_from) if p.draft.forward_from else None
            if src is not None and src.chat_type is ChatType.GROUP:
                pairs.add((src.target_id, p.sender_id))
        return await self.facts.members(pairs) if pairs else {}

    async def _mention_facts(
        self, sends: Sequence[PendingSend]
    ) -> tuple[Mapping[int, Any], Mapping[tuple[int, int], Any]]:
        """Groups and memberships that the mentions of the batch ask about."""
        pairs: set[tuple[int, int]] = set()
        groups: set[int] = set()
        for p in sends:
            if p.chat_type is ChatType.GROUP and (p.draft.mentions or p.draft.mention_all):
                groups.add(p.target_id)
                pairs.add((p.target_id, p.sender_id))
                pairs.update((p.target_id, uid) for uid in p.draft.mentions)
        if not groups:
            return {}, {}
        return await self.facts.groups(groups), await self.facts.members(pairs)

    @staticmethod
    def _forward(
        p: PendingSend, src: MessageRecord | None, readers: Mapping[tuple[int, int], Any]
    ) -> MessageDraft:
        if src is None:
            raise _not_found("forwardFrom")
        if src.chat_type is ChatType.GROUP:
            may_read = (src.target_id, p.sender_id) in readers
        else:
            may_read = p.sender_id in (src.sender_id, src.target_id)
        if not may_read:
            raise _not_found("forwardFrom")
        if src.recalled:
            raise ImError(MESSAGE_NOT_FOUND, "forwardFrom: the message was recalled", 404)
        extra = {k: v for k, v in (src.extra or {}).items() if k not in SERVER_EXTRA}
        origin = (src.extra or {}).get("forward")
        extra["forward"] = origin if isinstance(origin, dict) else {
            "messageId": src.id,
            "fromUserId": src.sender_id,
            "chatType": src.chat_type.label,
            "createdAt": src.created_at,
        }
        file_id = extra.get("fileId")
        return dataclasses.replace(
            p.draft,
            type=src.type,
            content=src.content,
            extra=extra,
            file_id=file_id if isinstance(file_id, int) else None,
            forward_from=None,
        )

    @staticmethod
    def _reply(p: PendingSend, draft: MessageDraft, src: MessageRecord | None) -> MessageDraft:
        if src is None or src.conversation_id != p.conversation_id:
            raise _not_found("replyTo")
        extra = dict(draft.extra or {})
        extra["reply"] = quote_of(src)
        return dataclasses.replace(draft, extra=extra)

    @staticmethod
    def _mentions(
        p: PendingSend,
        draft: MessageDraft,
        groups: Mapping[int, Any],
        members: Mapping[tuple[int, int], Any],
    ) -> MessageDraft:
        if p.chat_type is not ChatType.GROUP:
            raise ImError(BAD_REQUEST, "mentions: only group messages mention members", 400)
        for uid in draft.mentions:
            if (p.target_id, uid) not in members:
                raise ImError(BAD_REQUEST, f"mentions: user {uid} is not a member", 400)
        if draft.mention_all:
            sender = members.get((p.target_id, p.sender_id))
            group = groups.get(p.target_id)
            allowed = bool(getattr(group, "allow_member_mention_all", False))
            if not allowed and (sender is None or int(sender.role) < Role.ADMIN):
                raise ImError(
                    GROUP_PERMISSION_DENIED, "mentions: only the owner or an admin may @all", 403
                )
        extra = dict(draft.extra or {})
        extra["mentions"] = {"userIds": list(draft.mentions), "all": draft.mention_all}
        return dataclasses.replace(draft, extra=extra)
