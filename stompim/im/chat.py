"""Private and group chat: rights, persistence before acknowledgement, delivery, history, recall.

Send, in order (DESIGN.md "A chat message, end to end"):
  1. the caller parsed and validated the draft (stompim.im.messages.parse_draft);
  2. enqueue_private / enqueue_group hand it to the SendBatcher (stompim.im.chat_batch),
     which checks the rights of a whole batch of concurrent sends at once:
     private -> no block either way, then friendship (unless
     im.allow_stranger_chat); group -> group exists, active member, not muted
     (a timed mute, member.muted_until: 4005 naming the seconds left; member.muted;
     or group.all_muted for plain members);
  3. the batch is stored in one transaction (MessageRepository.write_batch), each
     message with its conversation's next seq (a resent clientMsgId returns the
     stored copy, `duplicate`; one reused in another conversation is refused, 3001);
  4. only after the commit each new message goes to the Publisher (never a
     duplicate) and the caller may acknowledge it with the record's id, seq and
     conversation. A database that fails refuses the waiting sends with Unavailable.

The service speaks in records (`SendResult`, `MessageRecord`); the bindings render
them (the STOMP binding: RECEIPT and MESSAGE headers, destinations, resume order).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from stompim.config import ImConfig
from stompim.im.chat_batch import SendBatcher
from stompim.im.chat_facts import ADMIN_ROLE, SocialFacts, social_facts
from stompim.im.chat_sends import PendingSend, SendFuture, SendResult
from stompim.im.clock import Clock, now_ms
from stompim.im.conversations import (
    ConversationService,
    FriendChecks,
    GroupChecks,
    UserLookup,
)
from stompim.im.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    MESSAGE_NOT_FOUND,
    RECALL_WINDOW_PASSED,
    ImError,
)
from stompim.im.ids import id_value, seq_value
from stompim.im.message_actions import MessageActions
from stompim.im.messages import ChatType, MessageDraft, MessageRecord, message_json
from stompim.im.publisher import Publisher
from stompim.im.timeline_refs import TimelineRefs
from stompim.store.database import Database
from stompim.store.messages import MessageRepository

log = logging.getLogger(__name__)

__all__ = ["ADMIN_ROLE", "ChatMediaHooks", "ChatService", "SendFuture", "SendResult"]


class ChatMediaHooks(Protocol):
    """What chat needs from media (stompim.im.media_chat.ChatMedia)."""

    def fill(self, extra: dict[str, Any]) -> dict[str, Any]:
        """`extra` of a message carrying `fileId`, with fresh download URLs."""
        ...

    async def resolve(
        self, sends: Sequence[tuple[int, MessageDraft]]
    ) -> list[MessageDraft | ImError]: ...

    async def message_stored(self, msg: MessageRecord) -> None: ...

    async def message_recalled(self, msg: MessageRecord) -> None: ...


MAX_HISTORY_LIMIT = 100
DEFAULT_HISTORY_LIMIT = 20


class ChatService:
    def __init__(
        self,
        *,
        config: ImConfig,
        db: Database,
        publisher: Publisher,
        friends: FriendChecks,
        groups: GroupChecks,
        users: UserLookup,
        clock: Clock = now_ms,
        facts: SocialFacts | None = None,
    ) -> None:
        """`facts`: how a batch of sends asks for its rights facts; by default batch
        queries when `friends` / `groups` are the SQL services (see chat_batch)."""
        self.config = config
        self.publisher = publisher
        self.friends = friends
        self.groups = groups
        self.users = users
        self.clock = clock
        self.messages = MessageRepository(db)
        self.conversations = ConversationService(
            db=db, publisher=publisher, friends=friends, groups=groups, users=users, clock=clock
        )
        self.repo = self.conversations.repo
        facts = facts if facts is not None else social_facts(friends, groups)
        self.refs = TimelineRefs(self.messages, facts)
        self.message_actions = MessageActions(
            config=config, db=db, publisher=publisher, conversations=self.conversations,
            clock=lambda: self.clock(), linked=self.linked,
        )
        self.conversations.list_extras = self.message_actions.list_extras
        self.batcher = SendBatcher(
            config=config,
            facts=facts,
            users=users,
            conversations=self.repo,
            messages=self.messages,
            publish=self._stored,
            resolve=self._resolve_drafts,
        )
        self.media: ChatMediaHooks | None = None

    # -- media (stompim.im.media_chat) -----------------------------------------------

    def attach_media(self, media: ChatMediaHooks) -> None:
        """Let messages carry uploaded files: drafts naming a `fileId` are checked and
        filled per batch, stored ones reference their file, and every record handed out
        (publisher, replay, history, conversation list) carries fresh links."""
        self.media = media
        self.conversations.linked = self.linked

    def linked(self, msg: MessageRecord) -> MessageRecord:
        """`msg` with fresh signed URLs of its file in `extra` (as is without one)."""
        if self.media is None or msg.recalled or not msg.extra or "fileId" not in msg.extra:
            return msg
        return dataclasses.replace(msg, extra=self.media.fill(msg.extra))

    async def _resolve_drafts(self, sends: Sequence[PendingSend]) -> list[MessageDraft | ImError]:
        """A batch's drafts: references first (a forward may bring a file), then files."""
        drafts = await self.refs.resolve(sends)
        todo = [(i, p.sender_id, d) for i, (p, d) in enumerate(zip(sends, drafts, strict=True))
                if not isinstance(d, ImError)]
        if self.media is None:
            for i, _, d in todo:
                if d.file_id is not None:
                    drafts[i] = ImError(BAD_REQUEST, "file uploads are not enabled", 400)
            return drafts
        if todo:
            filled = await self.media.resolve([(sender, d) for _, sender, d in todo])
            for (i, _, _), outcome in zip(todo, filled, strict=True):
                drafts[i] = outcome
        return drafts

    async def _stored(self, msg: MessageRecord) -> None:
        """After the commit: the message references its file and records its mentions,
        then it is published."""
        if self.media is not None:
            try:
                await self.media.message_stored(msg)
            except Exception:  # stored already; members cannot read the file until fixed
                log.exception("recording the file of message %s failed", msg.id)
        try:
            await self.message_actions.message_stored(msg)
        except Exception:  # stored already; only mentionCount misses it
            log.exception("recording the mentions of message %s failed", msg.id)
        await self.publisher.message_stored(self.linked(msg))

    # -- sending --------------------------------------------------------------

    async def send_private(
        self, sender_id: int, to_user_id: int, draft: MessageDraft
    ) -> SendResult:
        return await self.enqueue_private(sender_id, to_user_id, draft)

    async def send_group(self, sender_id: int, group_id: int, draft: MessageDraft) -> SendResult:
        return await self.enqueue_group(sender_id, group_id, draft)

    def enqueue_private(
        self, sender_id: int, to_user_id: int, draft: MessageDraft
    ) -> SendFuture:
        """The synchronous half of send_private: queued now, in call order; the Future
        resolves after the commit (or fails with its ImError, or Unavailable).
        Cancelling it withdraws the send while it still waits in the queue. Raises at
        once what needs no database (a message to oneself, an id out of range)."""
        to_user_id = id_value(to_user_id, "toUserId")
        if to_user_id == sender_id:
            raise ImError(BAD_REQUEST, "cannot send a private message to yourself", 400)
        return self.batcher.enqueue(ChatType.PRIVATE, sender_id, to_user_id, draft, self.clock())

    def enqueue_group(self, sender_id: int, group_id: int, draft: MessageDraft) -> SendFuture:
        """The synchronous half of send_group (see enqueue_private)."""
        group_id = id_value(group_id, "groupId")
        return self.batcher.enqueue(ChatType.GROUP, sender_id, group_id, draft, self.clock())

    async def post_system(
        self, group_id: int, actor_id: int, draft: MessageDraft
    ) -> MessageRecord:
        """Store a system message (`draft.type == "system"`) in the group's conversation
        and publish it like a chat message; returns the stored record. No rights check:
        the caller (stompim.im.system_messages) reports a change it already made. It
        takes the send queue, so its seq and live order hold among the chat messages."""
        future = self.batcher.enqueue(
            ChatType.GROUP, actor_id, id_value(group_id, "groupId"), draft, self.clock(),
            system=True,
        )
        return (await future).message

    # -- replay (a binding's resume after a reconnect) ------------------------------

    async def replay_group(
        self, user_id: int, group_id: int, since_seq: int, limit: int, *,
        as_viewer: bool = True,
    ) -> list[MessageRecord]:
        """The group's messages with seq > since_seq (oldest first, at most `limit`);
        members only (4001 / 4002). `as_viewer`: only what `user_id` sees (not deleted
        for them, above their clear floor); False for a query shared by every member
        (the binding's hole fill)."""
        since_seq = seq_value(since_seq, "since")
        group_id = id_value(group_id, "groupId")
        await self.groups.require_member(group_id, user_id)
        conv = await self.repo.of_group(group_id)
        if conv is None:
            return []
        found = await self.messages.page(
            conv.id, after_seq=since_seq, limit=limit, viewer=user_id if as_viewer else None
        )
        return [self.linked(m) for m in found]

    async def replay_private(
        self, user_id: int, since: int, limit: int
    ) -> list[MessageRecord]:
        """Every private message of the user, sent or received, after place `since` of
        their inbox (in inbox order, at most `limit`). A message's place in a user's
        inbox is `MessageRecord.inbox_seq(user)`: 1, 2, 3... per user, committed in
        order (stompim.store.messages), so the last place a client saw is an exact
        cursor, whichever node stored what."""
        since = seq_value(since, "since")
        found = await self.messages.inbox_after(user_id, since, limit)
        return [self.linked(m) for m in found]

    async def missed_edits(
        self, user_id: int, group_id: int | None, since: int
    ) -> list[tuple[MessageRecord, int]]:
        """Edits a client resuming after `since` on a group topic (`group_id`) or its
        private queue (None; `since` is then a place of the user's inbox) may have
        missed, as (message, version); see
        MessageActions.missed_edits. Call after the replay's own checks."""
        conversation = None
        if group_id is not None:
            conv = await self.repo.of_group(group_id)
            if conv is None:
                return []
            conversation = conv.id
        found = await self.message_actions.missed_edits(
            group_conversation=conversation, user_id=user_id, since=since
        )
        return [(self.linked(m), version) for m, version in found]

    async def private_head(self, user_id: int) -> int:
        """The last place of the user's inbox stored so far (0: none)."""
        return await self.messages.inbox_head(user_id)

    async def group_head(self, user_id: int, group_id: int) -> int:
        """The group conversation's last seq stored so far (0: none); members only."""
        group_id = id_value(group_id, "groupId")
        await self.groups.require_member(group_id, user_id)
        conv = await self.repo.of_group(group_id)
        return 0 if conv is None else conv.last_seq

    # -- history and recall ---------------------------------------------------

    async def history(
        self,
        user_id: int,
        conversation_id: int,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> list[dict[str, Any]]:
        """A page of messages in ascending seq order (keyset by seq; see
        MessageRepository.page), as the user sees them: none they deleted for themselves
        or cleared, with reactions (stompim.im.message_actions.MessageActions.present)."""
        if limit < 1 or limit > MAX_HISTORY_LIMIT:
            raise ImError(BAD_REQUEST, f"limit must be 1..{MAX_HISTORY_LIMIT}", 400)
        if before_seq is not None:
            before_seq = seq_value(before_seq, "beforeSeq")
        if after_seq is not None:
            after_seq = seq_value(after_seq, "afterSeq")
        conv = await self.conversations.require_access(user_id, conversation_id)
        msgs = await self.messages.page(
            conv.id, before_seq=before_seq, after_seq=after_seq, limit=limit, viewer=user_id
        )
        return await self.message_actions.present(user_id, msgs)

    async def recall(self, user_id: int, message_id: int) -> dict[str, Any]:
        """Recall a message: its sender within im.recall_window_seconds, or a group
        owner/admin at any time. Clears the stored content and tells every
        participant (Publisher.message_recalled). Recalling twice is a no-op."""
        msg = await self.messages.get(id_value(message_id, "messageId"))
        if msg is None:
            raise ImError(MESSAGE_NOT_FOUND, "message not found", 404)
        try:
            await self.conversations.require_access(user_id, msg.conversation_id)
        except ImError:
            raise ImError(MESSAGE_NOT_FOUND, "message not found", 404) from None
        privileged = False
        if msg.chat_type is ChatType.GROUP:
            member = await self.groups.member(msg.target_id, user_id)
            privileged = member is not None and member.role >= ADMIN_ROLE
        if not privileged and msg.sender_id != user_id:
            raise ImError(FORBIDDEN, "only the sender or a group admin may recall", 403)
        if msg.recalled:
            return message_json(msg)
        window_ms = self.config.recall_window_seconds * 1000
        if not privileged and self.clock() - msg.created_at > window_ms:
            raise ImError(RECALL_WINDOW_PASSED, "the recall window has passed", 400)
        changed = await self.messages.mark_recalled(msg.id, self.clock())
        stored = await self.messages.get(msg.id)
        assert stored is not None
        if changed:
            if self.media is not None:
                await self.media.message_recalled(msg)
            await self.message_actions.message_recalled(msg)
            await self.publisher.message_recalled(stored, user_id)
        return message_json(stored)
