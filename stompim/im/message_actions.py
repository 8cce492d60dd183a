"""What a conversation's members do to messages after they are sent: edit, react, delete
for themselves, clear their history, pin (groups); and how each user sees the result.

ChatService owns one MessageActions (`chat.message_actions`) and calls it at three points:
`message_stored` after a send's commit (records its mentions), `message_recalled`
after a recall (drops them), and `present` for every page of history (per viewer: the
reactions with "mine", quotes of recalled messages shown recalled). REST routes call the
actions; the STOMP binding calls `edits_to_replay` when a client resumes.

Rules:
* edit: the sender, a text message not recalled, within `im.edit_window_seconds` of
  its send (3010 after that); the new content is stored as the next version (the
  original kept as version 0, stompim.store.timeline) and the row shows the latest.
  Every participant hears an `edit` event, and a client resuming with `x-since-seq`
  gets the edit events it may have missed (see `edits_to_replay`).
* reactions: any participant, on a message not recalled; an emoji is 1..32
  characters without spaces or control characters; at most MAX_REACTIONS_PER_USER
  kinds per user and message (3011). Every participant hears `reaction` events.
* delete for me / clear: only the caller's view changes (a hidden set, a floor);
  their own devices hear `delete` / `clear` events, nobody else hears anything.
* pins (groups): the owner or an admin pins a message of the group (not recalled),
  at most MAX_PINS per group (3012); members hear `pin` events and list the pins, and
  each pin or unpin is also a system message of the group (`message_pinned`, through
  `system`, the node's stompim.im.system_messages.SystemMessages).

Events are published only after the change is stored, through the Publisher's
`timeline_event` (the message's participants) and `own_event` (one user's devices).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from stompim.config import ImConfig
from stompim.im.conversations import ConversationService
from stompim.im.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    GROUP_PERMISSION_DENIED,
    MESSAGE_NOT_FOUND,
    MESSAGE_TOO_LONG,
    ImError,
)
from stompim.im.friends import display_name
from stompim.im.ids import id_value
from stompim.im.messages import ChatType, MessageRecord, message_json
from stompim.im.publisher import Publisher
from stompim.im.roles import Role
from stompim.im.system_messages import GroupEvent, NoSystemMessages, Timeline
from stompim.store.database import Database
from stompim.store.messages import MessageRepository
from stompim.store.timeline import ALL_MEMBERS, TimelineRepository
from stompim.store.users import UserRepository

__all__ = [
    "EDIT_WINDOW_PASSED",
    "MAX_PINS",
    "MAX_REACTIONS_PER_USER",
    "PIN_LIMIT",
    "REACTION_LIMIT",
    "MessageActions",
]

EDIT_WINDOW_PASSED = 3010
REACTION_LIMIT = 3011
PIN_LIMIT = 3012
MAX_REACTIONS_PER_USER = 20
MAX_PINS = 50
MAX_EMOJI_CHARS = 32
MAX_DELETE = 100
MAX_EDIT_REPLAY = 500


def check_emoji(value: Any) -> str:
    """An emoji (or a short code such as ":+1:"): 1..32 characters, no spaces or
    control characters."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_EMOJI_CHARS:
        raise ImError(BAD_REQUEST, f"emoji must be 1..{MAX_EMOJI_CHARS} characters", 400)
    for ch in value:
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            raise ImError(BAD_REQUEST, "emoji must not hold spaces or control characters", 400)
    return value


class MessageActions:
    def __init__(
        self,
        *,
        config: ImConfig,
        db: Database,
        publisher: Publisher,
        conversations: ConversationService,
        clock: Callable[[], int],
        linked: Callable[[MessageRecord], MessageRecord],
    ) -> None:
        self.config = config
        self.publisher = publisher
        self.conversations = conversations
        self.groups = conversations.groups
        self.clock = clock
        self.linked = linked
        self.messages = MessageRepository(db)
        self.repo = TimelineRepository(db)
        self.users = UserRepository(db)
        # group events as system messages (a pin); ImServices hands the node's one
        self.system: Timeline = NoSystemMessages()

    # -- access ---------------------------------------------------------------------

    async def visible_message(self, user_id: int, message_id: int) -> MessageRecord:
        """The message, if `user_id` takes part in its conversation (3002 otherwise:
        foreign and unknown messages look the same)."""
        msg = await self.messages.get(id_value(message_id, "messageId"))
        if msg is None:
            raise ImError(MESSAGE_NOT_FOUND, "message not found", 404)
        try:
            await self.conversations.require_access(user_id, msg.conversation_id)
        except ImError:
            raise ImError(MESSAGE_NOT_FOUND, "message not found", 404) from None
        return msg

    # -- what each viewer sees --------------------------------------------------------

    async def present(self, viewer: int, msgs: Sequence[MessageRecord]) -> list[dict[str, Any]]:
        """The JSON of `msgs` as `viewer` sees them: reactions (count, mine) and quotes
        of messages recalled since they were quoted."""
        live = [m for m in msgs if not m.recalled]
        reactions = await self.repo.reactions([m.id for m in live], viewer)
        quoted = {
            int(r["messageId"])
            for m in live
            if isinstance(r := (m.extra or {}).get("reply"), dict)
            and isinstance(r.get("messageId"), int)
            and not r.get("recalled")
        }
        originals = await self.messages.get_many(quoted) if quoted else {}
        out = []
        for msg in msgs:
            item = message_json(self.linked(msg))
            reply = (item.get("extra") or {}).get("reply")
            original = (
                originals.get(int(reply["messageId"]))
                if isinstance(reply, dict) and isinstance(reply.get("messageId"), int)
                else None
            )
            if isinstance(reply, dict) and original is not None and original.recalled:
                item["extra"] = {**item["extra"], "reply": {**reply, "content": "",
                                                            "recalled": True}}
            if msg.id in reactions:  # absent: no reactions
                item["reactions"] = [
                    {"emoji": r.emoji, "count": r.count, "mine": r.mine}
                    for r in reactions[msg.id]
                ]
            out.append(item)
        return out

    # -- after a send or a recall (ChatService) -------------------------------------

    async def message_stored(self, msg: MessageRecord) -> None:
        mentions = (msg.extra or {}).get("mentions")
        if msg.chat_type is not ChatType.GROUP or not isinstance(mentions, dict):
            return
        users = [
            u for u in mentions.get("userIds", []) if isinstance(u, int) and u != msg.sender_id
        ]
        if mentions.get("all"):
            users.append(ALL_MEMBERS)
        await self.repo.add_mentions(msg.conversation_id, msg.seq, msg.id, users)

    async def message_recalled(self, msg: MessageRecord) -> None:
        """A recalled message counts as nobody's mention and is no longer pinned."""
        await self.repo.remove_mentions(msg.conversation_id, msg.seq)
        if msg.chat_type is ChatType.GROUP:
            await self.repo.unpin(msg.target_id, msg.id)

    # -- edit -----------------------------------------------------------------------

    async def edit(self, user_id: int, message_id: int, content: Any) -> dict[str, Any]:
        if not isinstance(content, str) or not content.strip():
            raise ImError(BAD_REQUEST, "content: an edit needs text", 400)
        if len(content) > self.config.max_message_length:
            raise ImError(MESSAGE_TOO_LONG,
                          f"message longer than {self.config.max_message_length} characters", 400)
        msg = await self.visible_message(user_id, message_id)
        if msg.sender_id != user_id:
            raise ImError(FORBIDDEN, "only the sender may edit a message", 403)
        if msg.recalled:
            raise ImError(BAD_REQUEST, "a recalled message cannot be edited", 400)
        if msg.type != "text":
            raise ImError(BAD_REQUEST, "only text messages can be edited", 400)
        now = self.clock()
        if now - msg.created_at > self.config.edit_window_seconds * 1000:
            raise ImError(EDIT_WINDOW_PASSED, "the edit window has passed", 400)
        version = await self.repo.edit(msg.id, content, now)
        if version is None:  # recalled meanwhile
            raise ImError(BAD_REQUEST, "a recalled message cannot be edited", 400)
        stored = await self.messages.get(msg.id)
        assert stored is not None
        body = self.edit_event(stored, version, user_id)
        await self.publisher.timeline_event(
            stored, "edit", body, self.edit_event_id(stored, version)
        )
        return message_json(self.linked(stored))

    @staticmethod
    def edit_event(msg: MessageRecord, version: int, operator_id: int) -> dict[str, Any]:
        return {
            "event": "edit",
            "messageId": msg.id,
            "conversationId": msg.conversation_id,
            "seq": msg.seq,
            "version": version,
            "content": msg.content,
            "editedAt": msg.edited_at,
            "operatorId": operator_id,
        }

    @staticmethod
    def edit_event_id(msg: MessageRecord, version: int) -> str:
        """The `message-id` of an edit event, the same live and replayed (so the broker
        drops one that a replay already sent)."""
        return f"edit-{msg.id}-{version}"

    async def edits_to_replay(
        self, msgs: Sequence[MessageRecord]
    ) -> list[tuple[MessageRecord, int]]:
        """Edited messages among `msgs` with their versions (see stompim.stomp.chat)."""
        versions = await self.repo.versions(m.id for m in msgs)
        return [(m, versions[m.id]) for m in msgs if m.id in versions]

    async def missed_edits(
        self, *, group_conversation: int | None, user_id: int, since: int
    ) -> list[tuple[MessageRecord, int]]:
        """Edit events a client resuming after `since` (a group seq, or a place of the
        user's private inbox) may have missed: edits of messages at or before `since`. An edit
        comes at most the edit window after its message, so a client that saw the
        message at `since` can only have missed edits of messages sent after that
        message's time minus the window; those are re-sent (with their current version;
        one already seen is told again, harmlessly), except for messages the user
        deleted for themselves or cleared."""
        if since <= 0:
            return []
        window = self.config.edit_window_seconds * 1000
        if group_conversation is not None:
            seen = await self.repo.created_at_of(
                "conversation_id = ? AND seq = ?", (group_conversation, since)
            )
            start = (seen if seen is not None else self.clock()) - window
            found = await self.repo.edited_group(group_conversation, since, start, MAX_EDIT_REPLAY)
        else:
            at = await self.repo.inbox_message_at(user_id, since)
            if at is None:
                return []
            upto_id, seen = at
            found = await self.repo.edited_private(
                user_id, upto_id, seen - window, MAX_EDIT_REPLAY
            )
        return await self.edits_to_replay(await self._in_view(user_id, found))

    async def _in_view(self, user_id: int, msgs: list[MessageRecord]) -> list[MessageRecord]:
        """`msgs` less those the user deleted for themselves or cleared away: their
        history and replays no longer show them, so neither may an edit event."""
        if not msgs:
            return msgs
        hidden = await self.repo.hidden_among(user_id, [m.id for m in msgs])
        floors = await self.repo.floors(user_id, sorted({m.conversation_id for m in msgs}))
        return [m for m in msgs
                if m.id not in hidden and m.seq > floors.get(m.conversation_id, 0)]

    # -- reactions ------------------------------------------------------------------

    async def react(self, user_id: int, message_id: int, emoji: Any, add: bool) -> dict[str, Any]:
        """Add or remove the caller's `emoji` on a message; the message's reactions as
        the caller sees them. Adding twice or removing what is not there changes
        nothing and tells nobody."""
        emoji = check_emoji(emoji)
        msg = await self.visible_message(user_id, message_id)
        if msg.recalled:
            raise ImError(BAD_REQUEST, "a recalled message takes no reactions", 400)
        if add:
            if await self.repo.reactions_of_user(msg.id, user_id) >= MAX_REACTIONS_PER_USER:
                raise ImError(REACTION_LIMIT,
                              f"at most {MAX_REACTIONS_PER_USER} reactions per message", 409)
            changed = await self.repo.add_reaction(msg.id, user_id, emoji, self.clock())
        else:
            changed = await self.repo.remove_reaction(msg.id, user_id, emoji)
        if changed:
            body = {
                "event": "reaction",
                "messageId": msg.id,
                "conversationId": msg.conversation_id,
                "seq": msg.seq,
                "userId": user_id,
                "emoji": emoji,
                "action": "add" if add else "remove",
                "count": await self.repo.reaction_count(msg.id, emoji),
            }
            await self.publisher.timeline_event(msg, "reaction", body, None)
        reactions = (await self.repo.reactions([msg.id], user_id)).get(msg.id, [])
        return {
            "messageId": msg.id,
            "reactions": [{"emoji": r.emoji, "count": r.count, "mine": r.mine} for r in reactions],
        }

    # -- delete for me, clear history -----------------------------------------------

    async def delete_for_me(self, user_id: int, message_ids: Sequence[Any]) -> int:
        """Hide messages from the caller's history and replays (theirs alone); each
        must be in a conversation the caller takes part in (3002 otherwise)."""
        if not message_ids or len(message_ids) > MAX_DELETE:
            raise ImError(BAD_REQUEST, f"messageIds: 1..{MAX_DELETE} ids", 400)
        ids = sorted({id_value(v, "messageIds") for v in message_ids})
        found = await self.messages.get_many(ids)
        if len(found) != len(ids):
            raise ImError(MESSAGE_NOT_FOUND, "message not found", 404)
        by_conversation: dict[int, list[int]] = {}
        for msg in found.values():
            by_conversation.setdefault(msg.conversation_id, []).append(msg.id)
        for conversation_id in by_conversation:
            try:
                await self.conversations.require_access(user_id, conversation_id)
            except ImError:
                raise ImError(MESSAGE_NOT_FOUND, "message not found", 404) from None
        now = self.clock()
        for conversation_id, mids in sorted(by_conversation.items()):
            await self.repo.hide(user_id, conversation_id, mids, now)
            await self.publisher.own_event(
                user_id, conversation_id,
                {"event": "delete", "conversationId": conversation_id, "messageIds": mids},
            )
        return len(ids)

    async def clear(self, user_id: int, conversation_id: int) -> dict[str, Any]:
        """Clear the caller's history of a conversation up to its last message (their
        view only): history, replays and the list's lastMessage start after it."""
        conv = await self.conversations.require_access(user_id, conversation_id)
        floor = await self.repo.clear(conv.id, user_id, conv.last_seq, self.clock())
        await self.publisher.own_event(
            user_id, conv.id, {"event": "clear", "conversationId": conv.id, "seq": floor}
        )
        return {"conversationId": conv.id, "clearedSeq": floor}

    async def floor(self, user_id: int, conversation_id: int) -> int:
        return await self.repo.floor(conversation_id, user_id)

    # -- the conversation list (ConversationService.list_extras) ----------------------

    async def list_extras(self, user_id: int, items: list[dict[str, Any]]) -> None:
        """`mentionCount` per conversation (mentions of the user or @all after their
        read marker), and no `lastMessage` the user deleted or cleared."""
        counts = await self.repo.mention_counts(
            user_id, [(int(i["conversationId"]), int(i["readSeq"])) for i in items
                      if i["chatType"] == "group"]
        )
        floors = await self.repo.floors(user_id, [int(i["conversationId"]) for i in items])
        last_ids = [int(i["lastMessage"]["id"]) for i in items if i.get("lastMessage")]
        hidden = await self.repo.hidden_among(user_id, last_ids)
        for item in items:
            item["mentionCount"] = counts.get(int(item["conversationId"]), 0)
            last = item.get("lastMessage")
            if last and (last["id"] in hidden
                         or last["seq"] <= floors.get(int(item["conversationId"]), 0)):
                item["lastMessage"] = None

    # -- pins -----------------------------------------------------------------------

    async def _group_admin_message(self, user_id: int, message_id: int) -> MessageRecord:
        msg = await self.visible_message(user_id, message_id)
        if msg.chat_type is not ChatType.GROUP:
            raise ImError(BAD_REQUEST, "only group messages can be pinned", 400)
        member = await self.groups.member(msg.target_id, user_id)
        if member is None or int(member.role) < Role.ADMIN:
            raise ImError(GROUP_PERMISSION_DENIED, "only the owner or an admin may pin", 403)
        return msg

    async def pin(self, user_id: int, message_id: int, pinned: bool) -> dict[str, Any]:
        msg = await self._group_admin_message(user_id, message_id)
        now = self.clock()
        if pinned:
            if msg.recalled:
                raise ImError(BAD_REQUEST, "a recalled message cannot be pinned", 400)
            if await self.repo.pin_count(msg.target_id) >= MAX_PINS:
                raise ImError(PIN_LIMIT, f"at most {MAX_PINS} pinned messages per group", 409)
            changed = await self.repo.pin(msg.target_id, msg.id, user_id, now)
        else:
            changed = await self.repo.unpin(msg.target_id, msg.id)
        body = {
            "event": "pin",
            "groupId": msg.target_id,
            "conversationId": msg.conversation_id,
            "messageId": msg.id,
            "seq": msg.seq,
            "pinned": pinned,
            "operatorId": user_id,
        }
        if changed:
            await self.publisher.timeline_event(msg, "pin", body, None)
            who = await display_name(self.users, user_id)
            await self.system.post(
                msg.target_id, user_id, GroupEvent.MESSAGE_PINNED,
                f"{who} {'pinned' if pinned else 'unpinned'} a message",
                messageId=msg.id, seq=msg.seq, pinned=pinned,
            )
        return {k: v for k, v in body.items() if k != "event"}

    async def pins(self, user_id: int, group_id: int) -> list[dict[str, Any]]:
        """The group's pinned messages, newest pin first (members only)."""
        group_id = id_value(group_id, "groupId")
        await self.groups.require_member(group_id, user_id)
        pins = await self.repo.pins(group_id)
        msgs = await self.messages.get_many(p.message_id for p in pins)
        shown = {m["id"]: m for m in await self.present(user_id, list(msgs.values()))}
        return [
            {"message": shown[p.message_id], "pinnedBy": p.pinned_by, "pinnedAt": p.pinned_at}
            for p in pins
            if p.message_id in shown
        ]
