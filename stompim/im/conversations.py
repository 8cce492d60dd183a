"""Conversations as one user sees them: the list, unread counts, read markers, hiding.

Unread = conversation.last_seq - cursor.read_seq; nothing is stored per member per
message, so a send costs O(1) writes whatever the group size.

Group cursors are created lazily, and a member must not inherit the messages
sent before they joined as unread. Choice made here (no hook needed from the
groups service): whenever a group cursor is about to be used and the member's
`joined_at` (from GroupService.member) is newer than the join time the cursor
was computed for, the cursor is lifted to the highest seq stored before that
join (`last_seq_before`, index (conversation_id, created_at)). This also covers
a member who left and joined again.

Call order: ChatService holds one ConversationService; REST routes call
`list`, `unread_total`, `hide`, `set_muted`, `mark_read`; ChatService calls
`require_access` before history and recall.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from stompim.im.clock import Clock, now_ms
from stompim.im.errors import BAD_REQUEST, CONVERSATION_NOT_FOUND, ImError
from stompim.im.ids import INT64_MAX, id_value, seq_value
from stompim.im.messages import ChatType, MessageRecord, message_json
from stompim.im.publisher import Publisher
from stompim.store.conversations import (
    ConversationRecord,
    ConversationRepository,
    CursorRecord,
    ListedConversation,
)
from stompim.store.database import Database
from stompim.store.messages import MessageRepository

MAX_LIST_LIMIT = 100

GroupReadHook = Callable[[ConversationRecord, int, int, int], Awaitable[None]]


# What chat needs from the social services (IM_API.md names); the real
# FriendService / GroupService satisfy these structurally.
class FriendChecks(Protocol):
    async def is_friend(self, user_id: int, other_id: int) -> bool: ...
    async def blocked_either(self, a: int, b: int) -> bool: ...
    async def friend_muted(self, user_id: int, friend_id: int) -> bool: ...


class MemberLike(Protocol):
    @property
    def role(self) -> int: ...
    @property
    def muted(self) -> bool: ...
    @property
    def joined_at(self) -> int: ...


class GroupLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def avatar(self) -> str: ...
    @property
    def all_muted(self) -> bool: ...


class GroupChecks(Protocol):
    async def get(self, group_id: int) -> Any: ...  # GroupLike | None
    async def member(self, group_id: int, user_id: int) -> Any: ...  # MemberLike | None
    async def require_member(self, group_id: int, user_id: int) -> Any: ...
    async def groups_of(self, user_id: int) -> list[int]: ...


class UserLookup(Protocol):
    async def get_many(self, ids: Any) -> Mapping[int, Any]: ...  # records with nickname, avatar


def _cursor_text(updated_at: int, conv_id: int) -> str:
    return f"{updated_at}_{conv_id}"


_CURSOR = re.compile(r"([0-9]{1,19})_([0-9]{1,19})")  # ASCII digits: what _cursor_text wrote


def _parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    """A cursor this server gave out; anything else (other digits, values past 64 bits,
    which no database could compare) is refused as bad input."""
    if not cursor:
        return None
    match = _CURSOR.fullmatch(cursor)
    if match is None or max(int(match[1]), int(match[2])) > INT64_MAX:
        raise ImError(BAD_REQUEST, "cursor: not a cursor this server gave", 400)
    return int(match[1]), int(match[2])


@dataclass(frozen=True)
class ReadResult:
    conversation_id: int
    read_seq: int
    unread: int
    advanced: bool


def _as_is(msg: MessageRecord) -> MessageRecord:
    return msg


class ConversationService:
    def __init__(
        self,
        *,
        db: Database,
        publisher: Publisher,
        friends: FriendChecks,
        groups: GroupChecks,
        users: UserLookup,
        clock: Clock = now_ms,
    ) -> None:
        self.repo = ConversationRepository(db)
        self.messages = MessageRepository(db)
        self.publisher = publisher
        self.friends = friends
        self.groups = groups
        self.users = users
        self.clock = clock
        self.linked: Callable[[MessageRecord], MessageRecord] = _as_is  # media: ChatService
        # after a group read marker moved: (conversation, reader, before, now_read);
        # stompim.im.readers.ReadReceipts.group_read (read-count events to senders)
        self.on_group_read: GroupReadHook | None = None

    # -- access ---------------------------------------------------------------

    async def require_access(self, user_id: int, conversation_id: int) -> ConversationRecord:
        """The conversation, if `user_id` takes part (participant / active member).

        Unknown and foreign conversations look the same (3005, 404), so ids
        cannot be probed.
        """
        conv = await self.repo.get(id_value(conversation_id, "conversationId"))
        if conv is not None:
            if conv.chat_type is ChatType.PRIVATE and conv.has_participant(user_id):
                return conv
            if (
                conv.chat_type is ChatType.GROUP
                and conv.group_id is not None
                and await self.groups.member(conv.group_id, user_id) is not None
            ):
                return conv
        raise ImError(CONVERSATION_NOT_FOUND, "conversation not found", 404)

    async def read_seq_of(
        self,
        user_id: int,
        conv: ConversationRecord,
        cursor: CursorRecord | None,
        member: Any = None,
    ) -> int:
        """The user's effective read_seq, lifting a group cursor to the join baseline."""
        read = cursor.read_seq if cursor else 0
        if conv.chat_type is not ChatType.GROUP or conv.group_id is None:
            return read
        if member is None:
            member = await self.groups.member(conv.group_id, user_id)
        if member is None:
            return read
        joined_at = int(member.joined_at)
        if cursor is not None and cursor.joined_at >= joined_at:
            return read
        baseline = await self.messages.last_seq_before(conv.id, joined_at)
        await self.repo.rebase_cursor(conv.id, user_id, baseline, joined_at, self.clock())
        return max(read, baseline)

    # -- list -----------------------------------------------------------------

    async def _muted(
        self, user_id: int, conv: ConversationRecord, cursor: CursorRecord | None
    ) -> bool:
        if cursor is not None and cursor.muted:
            return True
        if conv.chat_type is ChatType.PRIVATE:
            return bool(await self.friends.friend_muted(user_id, conv.peer_of(user_id)))
        return False

    async def list(
        self, user_id: int, cursor: str | None = None, limit: int = 20
    ) -> dict[str, Any]:
        """One page of the user's conversations, newest activity first (keyset cursor)."""
        if limit < 1:
            raise ImError(BAD_REQUEST, "limit must be positive", 400)
        limit = min(limit, MAX_LIST_LIMIT)
        groups = await self.groups.groups_of(user_id)
        rows = await self.repo.visible_for(
            user_id, groups, before=_parse_cursor(cursor), limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        items = await self._render(user_id, rows)
        next_cursor = None
        if more and rows:
            tail = rows[-1].conversation
            next_cursor = _cursor_text(tail.updated_at, tail.id)
        return {"list": items, "nextCursor": next_cursor, "hasMore": more}

    async def items_for(
        self, user_id: int, conversation_ids: Collection[int]
    ) -> builtins.list[dict[str, Any]]:
        """List items of some of the user's visible conversations (pinned ones), in
        list order. Reads the user's whole visible list: for a handful of ids."""
        wanted = set(conversation_ids)
        if not wanted:
            return []
        groups = await self.groups.groups_of(user_id)
        rows = [r for r in await self.repo.visible_for(user_id, groups)
                if r.conversation.id in wanted]
        return await self._render(user_id, rows)

    async def _render(
        self, user_id: int, rows: builtins.list[ListedConversation]
    ) -> builtins.list[dict[str, Any]]:
        last = await self.messages.at_seqs(
            [(r.conversation.id, r.conversation.last_seq) for r in rows]
        )
        peers = [
            r.conversation.peer_of(user_id)
            for r in rows
            if r.conversation.chat_type is ChatType.PRIVATE
        ]
        users = await self.users.get_many(peers) if peers else {}
        items = [await self._item(user_id, row, last, users) for row in rows]
        await self._add_peer_reads(user_id, [r.conversation for r in rows], items)
        return items

    async def _item(
        self,
        user_id: int,
        row: ListedConversation,
        last: Mapping[int, Any],
        users: Mapping[int, Any],
    ) -> dict[str, Any]:
        conv = row.conversation
        target = conv.target_for(user_id)
        name, avatar = "", ""
        if conv.chat_type is ChatType.PRIVATE:
            peer = users.get(target)
            if peer is not None:
                name = getattr(peer, "nickname", "") or getattr(peer, "username", "")
                avatar = getattr(peer, "avatar", "") or ""
        else:
            group = await self.groups.get(target)
            if group is not None:
                name, avatar = group.name, group.avatar or ""
        read = await self.read_seq_of(user_id, conv, row.cursor)
        msg = last.get(conv.id)
        return {
            "conversationId": conv.id,
            "chatType": conv.chat_type.label,
            "targetId": target,
            "name": name,
            "avatar": avatar,
            "lastMessage": message_json(self.linked(msg)) if msg else None,
            "lastSeq": conv.last_seq,
            "readSeq": min(read, conv.last_seq),
            "unreadCount": max(0, conv.last_seq - read),
            "muted": await self._muted(user_id, conv, row.cursor),
            "updatedAt": conv.updated_at,
        }

    async def _add_peer_reads(
        self, user_id: int, convs: Sequence[ConversationRecord],
        items: Sequence[dict[str, Any]],
    ) -> None:
        """`peerReadSeq` on each private item: how far the peer has read (one query), so
        a client shows "read" ticks without waiting for a live read event."""
        pairs = [(c.id, c.peer_of(user_id)) for c in convs if c.chat_type is ChatType.PRIVATE]
        reads = await self.repo.read_seqs(pairs)
        for conv, item in zip(convs, items, strict=True):
            if conv.chat_type is ChatType.PRIVATE:
                item["peerReadSeq"] = reads.get((conv.id, conv.peer_of(user_id)), 0)

    async def lookup(self, user_id: int, chat_type: str, target_id: int) -> dict[str, Any]:
        """The conversation with a user (`private`) or of a group (`group`) as the list
        shows it, found without paging the list; 3005 when it does not exist yet (no
        message between the two users) or the caller does not take part."""
        target_id = id_value(target_id, "targetId")
        if chat_type == "private":
            conv = await self.repo.private_between(user_id, target_id)
        elif chat_type == "group":
            conv = await self.repo.of_group(target_id)
        else:
            raise ImError(BAD_REQUEST, "chatType: private or group", 400)
        if conv is None:
            raise ImError(CONVERSATION_NOT_FOUND, "conversation not found", 404)
        conv = await self.require_access(user_id, conv.id)
        row = ListedConversation(conv, await self.repo.cursor(conv.id, user_id))
        last = await self.messages.at_seqs([(conv.id, conv.last_seq)])
        users = (await self.users.get_many([conv.peer_of(user_id)])
                 if conv.chat_type is ChatType.PRIVATE else {})
        item = await self._item(user_id, row, last, users)
        await self._add_peer_reads(user_id, [conv], [item])
        return item

    async def unread_total(self, user_id: int) -> int:
        """Sum of unread over visible, not muted conversations."""
        groups = await self.groups.groups_of(user_id)
        total = 0
        for row in await self.repo.visible_for(user_id, groups, only_unread=True):
            conv = row.conversation
            if await self._muted(user_id, conv, row.cursor):
                continue
            read = await self.read_seq_of(user_id, conv, row.cursor)
            total += max(0, conv.last_seq - read)
        return total

    # -- changes --------------------------------------------------------------

    async def hide(self, user_id: int, conversation_id: int) -> None:
        """Hide for this user only (and count it read); the next message shows it again."""
        conv = await self.require_access(user_id, conversation_id)
        await self.read_seq_of(user_id, conv, await self.repo.cursor(conv.id, user_id))
        await self.repo.hide(conv.id, user_id, conv.last_seq, self.clock())

    async def set_muted(self, user_id: int, conversation_id: int, muted: bool) -> None:
        """Per-member do-not-disturb for one conversation (excluded from unread-total)."""
        conv = await self.require_access(user_id, conversation_id)
        await self.read_seq_of(user_id, conv, await self.repo.cursor(conv.id, user_id))
        await self.repo.set_muted(conv.id, user_id, muted, self.clock())

    async def mark_read(self, user_id: int, conversation_id: int, seq: int) -> ReadResult:
        """Move the read cursor to `seq` (clamped to last_seq); it never moves back.

        When it moved, the reader's other devices and (private chat) the peer hear
        of it (Publisher.read_advanced; on STOMP a read event on `/queue/chat/<uid>`).
        """
        if not isinstance(seq, bool) and isinstance(seq, int) and seq < 0:
            raise ImError(BAD_REQUEST, "seq must not be negative", 400)
        seq = seq_value(seq, "seq")
        conv = await self.require_access(user_id, conversation_id)
        seq = min(seq, conv.last_seq)
        cursor = await self.repo.cursor(conv.id, user_id)
        before = await self.read_seq_of(user_id, conv, cursor)
        now_read = await self.repo.advance_read(conv.id, user_id, seq, self.clock())
        advanced = now_read > before
        if advanced:
            audience = [user_id]
            if conv.chat_type is ChatType.PRIVATE:
                audience.append(conv.peer_of(user_id))
            await self.publisher.read_advanced(conv.id, user_id, now_read, audience)
            if conv.chat_type is ChatType.GROUP and self.on_group_read is not None:
                await self.on_group_read(conv, user_id, before, now_read)
        return ReadResult(conv.id, now_read, max(0, conv.last_seq - now_read), advanced)
