"""Group commit of chat sends: many concurrent sends share one transaction, and each
sender still gets its receipt only after the commit that holds its message.

Why: a send used to cost its own transaction (one log flush) plus a round trip per
permission check; under load the database round trips, not the work, set the
rate. Here the round trips are paid per batch, whatever its size.

Call order, for one send (ChatService.send_private / send_group):
  1. the service validates what needs no database (draft, target shape);
  2. `SendBatcher.submit` queues a `PendingSend` and awaits its Future
     (`enqueue` is the synchronous half: a caller that must keep several
     sends in order without waiting for each, e.g. a pipelining STOMP
     session, enqueues them in order and awaits the Futures later). The Future
     is a `SendFuture`: cancelling it withdraws the send while it waits in the
     queue (it is then never stored); once the writer took its batch, cancel()
     returns False and the Future still resolves with what became of it;
  3. the writer task (started on demand, gone when the queue is empty) takes
     everything queued, at most `max_batch`, and for that batch:
     a. rights, one query per kind of fact for the whole batch (stompim.im.chat_facts):
        blocks and friendships of every (sender, recipient) pair; groups and
        memberships of every (group, sender) pair. A refused send gets its own
        ImError; the rest of the batch goes on;
     b. conversations: ids remembered, else looked up by key in one query
        (rows created on first use);
     c. `resolve` checks and fills the drafts that refer to something stored (a reply,
        a forward, mentions: stompim.im.timeline_refs; an uploaded file:
        stompim.im.media_chat), a few queries for the batch; a refused one fails alone;
     d. idempotency: stored copies of every clientMsgId, one query; a clientMsgId
        that occurs twice in the batch is written once, the later sends get the
        first one's row (`duplicate`); one that the batch committing meanwhile
        stored (see below) gets that row too;
     e. MessageRepository.write_batch: one transaction, one commit; a message the
        store refuses (a value out of range, a racing resend) fails alone, the
        rest of the batch is stored;
     f. hand each new message to the Publisher (batch order, so seq order per
        conversation; it never waits on another node), then resolve the Futures:
        a receipt means "committed".
Steps a-d are the batch's preparation, e-f its commit. Two stages: while batch N
commits (e-f), batch N+1 (whatever was queued when N's commit began) is prepared
(a-d) in a task of its own, so the checks' round trips overlap the write instead of
adding to it; N+1 commits only after N has, so commits keep queue order. A
clientMsgId that N+1 shares with N is not yet stored when N+1 looks for it: the
commit stage settles it from N's outcome (`_recent`) before writing. At most two
batches are in the writer at once. Sends that arrive while a batch is written form
the next batch: no timer, so a lone send costs one batch and under load the commit
is shared. One writer, not
several: batches then commit in queue order, so seqs follow the order of the
sends and this node publishes them in increasing order. (Several nodes, or
workers, each have their writer: the seqs that order a subscription, the
conversation's and the user's inbox place, commit in order under their row locks
whichever node writes; the broker puts what arrives out of order back in order,
see stompim.store.messages and DestinationHandler.ordered.)

Faults: a database that does not answer in time or refuses (`Unavailable`, bounded by
the store's timeouts) fails the batch and every send still queued behind it at once,
with that Unavailable (the STOMP binding answers it as refusal 3001: "not stored, send
it again"); a batch already prepared behind a commit that failed so is failed with it
(it would only wait out the same timeout); the writer then goes on with whatever is
queued next. Any other error of a batch (a bug) fails that batch with ImError 3001,
logged once per interval. Shutdown (the writer cancelled) fails both batches in the
writer and every queued send with 3001: whether a commit in flight landed is unknown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stompim.config import ImConfig
from stompim.errors import StoreError, Unavailable
from stompim.im.chat_facts import BatchRights, SocialFacts
from stompim.im.chat_sends import (
    DraftResolver,
    PendingSend,
    SendFuture,
    SendResult,
    refused_by_store,
    store_failed,
)
from stompim.im.conversations import UserLookup
from stompim.im.errors import ImError
from stompim.im.messages import ChatType, MessageDraft, MessageRecord
from stompim.logs import detached_context
from stompim.metrics import CHAT_BATCH_SECONDS, CHAT_BATCH_SIZE, CHAT_STORED
from stompim.rate_limited_log import RateLimitedLog
from stompim.store.conversations import ConversationRepository
from stompim.store.messages import MessageRepository, NewMessage

log = logging.getLogger(__name__)
_quiet = RateLimitedLog(log)

MAX_BATCH = 500
"""Sends handled in one batch (one transaction) at most."""

MAX_REMEMBERED_CONVERSATIONS = 100_000
"""Conversation ids kept in memory (key -> id); the map starts over when full."""

@dataclass(eq=False)
class _Prepared:
    """A batch through steps a-d: every send still live, and those of them to write."""

    live: list[PendingSend]
    writers: list[PendingSend]
    started: float  # perf_counter when its preparation began (stompim_chat_batch_seconds)


class SendBatcher:
    """The send queue of one ChatService and its single writer task."""

    def __init__(
        self,
        *,
        config: ImConfig,
        facts: SocialFacts,
        users: UserLookup,
        conversations: ConversationRepository,
        messages: MessageRepository,
        publish: Callable[[MessageRecord], Awaitable[None]],
        resolve: DraftResolver | None = None,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.config = config
        self.rights = BatchRights(config, facts, users)
        self.conversations = conversations
        self.messages = messages
        self.publish = publish
        self.resolve = resolve
        self.max_batch = max_batch
        self._queue: deque[PendingSend] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._conversation_ids: dict[str, int] = {}  # key -> id; rows are never deleted
        # (sender, clientMsgId) -> its row, of the batch committed last (see _commit)
        self._recent: dict[tuple[int, str], MessageRecord] = {}
        self.batches = 0  # batches written so far (tests and metrics)

    @property
    def facts(self) -> SocialFacts:
        return self.rights.facts

    @property
    def writing(self) -> bool:
        """Whether the writer task exists (it ends when the queue is empty)."""
        return self._writer is not None

    def enqueue(
        self, chat_type: ChatType, sender_id: int, target_id: int, draft: MessageDraft, now: int,
        *, system: bool = False,
    ) -> SendFuture:
        """Queue one send now (synchronously, so sends keep the order of the calls);
        the Future resolves once it is committed, or fails with its ImError or
        Unavailable. Cancelling it withdraws the send while it is still queued.
        `system`: a message the server writes on its own after a change it already
        checked (a group event); it skips the rights check and shares the queue, so
        its seq and its live delivery keep their order among the chat messages."""
        loop = asyncio.get_running_loop()
        pending = PendingSend(chat_type, sender_id, target_id, draft, now, SendFuture(loop=loop),
                              system=system)
        self._queue.append(pending)
        if self._writer is None:
            # Detached: the writer serves every session; it must never carry a
            # caller's ids, and never joins a caller's transaction (only the task that
            # opened one does).
            self._writer = loop.create_task(
                self._drain(), name="chat-send-writer", context=detached_context()
            )
        return pending.done

    async def submit(
        self, chat_type: ChatType, sender_id: int, target_id: int, draft: MessageDraft, now: int
    ) -> SendResult:
        """`enqueue` and wait: returns once committed (or raises its ImError)."""
        return await self.enqueue(chat_type, sender_id, target_id, draft, now)

    def _take(self) -> list[PendingSend]:
        """The next batch: what is queued, at most `max_batch`, less the withdrawn
        sends; marked `committing` (no longer withdrawable)."""
        while self._queue:
            take = min(len(self._queue), self.max_batch)
            batch = [self._queue.popleft() for _ in range(take)]
            batch = [p for p in batch if not p.done.done()]  # withdrawn by the sender
            if batch:
                for pending in batch:
                    pending.done.committing = True
                return batch
        return []

    def _start_preparing(self) -> asyncio.Task[_Prepared | None] | None:
        """Steps a-d of the next batch in a task of its own, or None: nothing queued."""
        batch = self._take()
        if not batch:
            return None
        return asyncio.get_running_loop().create_task(
            self._prepare_guarded(batch), name="chat-send-prepare"
        )

    async def _drain(self) -> None:
        """The writer: commits one batch after another until nothing is queued, the
        next one prepared while the current one commits (module docstring)."""
        preparing: asyncio.Task[_Prepared | None] | None = None
        try:
            while True:
                if preparing is None:
                    preparing = self._start_preparing()
                    if preparing is None:
                        break
                prepared = await preparing
                preparing = None
                if prepared is None:  # failed, or nothing left to write: answered
                    continue
                preparing = self._start_preparing()  # overlaps the commit below
                down = await self._commit_guarded(prepared)
                if down is not None and preparing is not None:
                    ready = await preparing
                    preparing = None
                    if ready is not None:
                        self._fail_all(ready.live, down)
        finally:
            if preparing is not None:  # cancelled (shutdown) during a commit
                self._abandon(preparing)
            self._writer = None
            if self._queue:  # cancelled (shutdown): nobody will write these
                while self._queue:
                    self._queue.popleft().fail(store_failed())

    @staticmethod
    def _abandon(preparing: asyncio.Task[_Prepared | None]) -> None:
        """Shutdown: answer the batch prepared (or being prepared) behind the commit."""
        if not preparing.done():
            preparing.cancel()  # _prepare_guarded answers its batch
        elif not preparing.cancelled() and (ready := preparing.result()) is not None:
            for pending in ready.live:
                pending.fail(store_failed())

    async def _prepare_guarded(self, batch: list[PendingSend]) -> _Prepared | None:
        """`_prepare`, its failures answered here (None then)."""
        try:
            return await self._prepare(batch)
        except asyncio.CancelledError:  # shutdown
            for pending in batch:
                pending.fail(store_failed())
            raise
        except Unavailable as exc:
            self._fail_all(batch, exc)
        except Exception as exc:
            self._failed(batch, exc)
        return None

    async def _commit_guarded(self, prepared: _Prepared) -> Unavailable | None:
        """`_commit`, its failures answered here; the Unavailable that failed it, if any."""
        try:
            await self._commit(prepared)
        except asyncio.CancelledError:  # shutdown: whether it committed is unknown
            for pending in prepared.live:
                pending.fail(store_failed())
            raise
        except Unavailable as exc:
            self._fail_all(prepared.live, exc)
            return exc
        except Exception as exc:
            self._failed(prepared.live, exc)
        finally:
            CHAT_BATCH_SECONDS.observe(time.perf_counter() - prepared.started)
        return None

    @staticmethod
    def _failed(batch: Sequence[PendingSend], exc: Exception) -> None:
        """A bug: 3001 for the batch, logged (with the traceback being handled)."""
        _quiet.exception(("batch", type(exc)), "a batch of %d chat sends failed", len(batch))
        for pending in batch:
            pending.fail(store_failed())

    def _fail_all(self, batch: Sequence[PendingSend], exc: Unavailable) -> None:
        """The database is down: refuse the batch and everything queued behind it now,
        rather than let each wait out its own timeout."""
        waiting = list(self._queue)
        self._queue.clear()
        _quiet.warning(("unavailable", exc.dependency),
                       "chat sends refused, %s: %d in the batch, %d queued",
                       exc.message, len(batch), len(waiting))
        for pending in (*batch, *waiting):
            pending.fail(exc)

    async def _prepare(self, batch: list[PendingSend]) -> _Prepared | None:
        """Steps a-d: the sends refused here are answered; None when none is left."""
        CHAT_BATCH_SIZE.observe(len(batch))
        started = time.perf_counter()
        live = await self.rights.check(batch)
        if live:
            await self._attach_conversations(live)
        if live and self.resolve is not None:
            live = await self._resolve_drafts(live)
        if not live:
            return None
        return _Prepared(live, await self._dedupe(live), started)

    async def _commit(self, prepared: _Prepared) -> None:
        """Steps e-f: write, publish in batch order, then answer every live send."""
        stored: dict[int, tuple[MessageRecord, bool]] = {}
        refused: dict[int, StoreError] = {}
        writers = prepared.writers
        recent = self._recent
        if recent:  # stored by the batch that committed while this one was prepared
            writers = []
            for p in prepared.writers:
                cmid = p.draft.client_msg_id
                earlier = recent.get((p.sender_id, cmid)) if cmid else None
                if earlier is None:
                    writers.append(p)
                else:
                    stored[id(p)] = (earlier, True)
        self._recent = {}
        items = [
            NewMessage(p.conversation_id, p.sender_id, p.chat_type, p.target_id, p.draft,
                       p.now, p.joined_at)
            for p in writers
        ]
        outcomes: list[Any] = []
        if items:  # else every send was a resend of the batch before
            outcomes = await self.messages.write_batch(items)  # Unavailable: see _drain
            self.batches += 1
        for pending, outcome in zip(writers, outcomes, strict=True):
            if isinstance(outcome, StoreError):
                _quiet.warning(("refused", type(outcome)), "storing a chat message failed: %r",
                               outcome)
                refused[id(pending)] = outcome
                continue
            stored[id(pending)] = outcome
            record, duplicate = outcome
            if pending.draft.client_msg_id:
                self._recent[(pending.sender_id, pending.draft.client_msg_id)] = record
            if not duplicate:
                CHAT_STORED.inc()
                await self._publish(record)
        for pending in prepared.live:
            source = pending.leader or pending
            found = stored.get(id(source))
            if found is None:
                error = refused.get(id(source))
                pending.fail(refused_by_store(error) if error is not None else store_failed())
            elif pending.leader is not None:
                pending.settle(found[0], True)
            else:
                pending.settle(*found)

    async def _publish(self, record: MessageRecord) -> None:
        """Stored already: a publisher that fails (against its contract) must not fail
        the batch's receipts."""
        try:
            await self.publish(record)
        except Exception as exc:
            _quiet.exception(("publish", type(exc)), "publishing a stored message failed")

    async def _resolve_drafts(self, live: list[PendingSend]) -> list[PendingSend]:
        """Each draft as `resolve` makes it (references, files), or its refusal."""
        assert self.resolve is not None
        outcomes = await self.resolve(live)
        kept = []
        for pending, outcome in zip(live, outcomes, strict=True):
            if isinstance(outcome, ImError):
                pending.fail(outcome)
            else:
                pending.draft = outcome
                kept.append(pending)
        return kept

    async def _attach_conversations(self, live: list[PendingSend]) -> None:
        """Each send's conversation id: remembered (a conversation's id never changes and
        its row is never deleted), else one lookup for the batch, rows made on first use."""
        known = self._conversation_ids
        unknown = {p.key for p in live if p.key not in known}
        if unknown:
            if len(known) + len(unknown) > MAX_REMEMBERED_CONVERSATIONS:
                known.clear()
            for key, conv in (await self.conversations.by_keys(unknown)).items():
                known[key] = conv.id
        for p in live:
            cid = known.get(p.key)
            if cid is None:
                if p.chat_type is ChatType.GROUP:
                    conv = await self.conversations.ensure_group(p.target_id, p.now)
                else:
                    conv = await self.conversations.ensure_private(p.sender_id, p.target_id, p.now)
                cid = known[p.key] = conv.id
            p.conversation_id = cid

    async def _dedupe(self, live: list[PendingSend]) -> list[PendingSend]:
        """The sends to write. A clientMsgId stored earlier settles its send now (as a
        duplicate); one that occurs twice in the batch is written once (`leader`)."""
        keys = {(p.sender_id, p.draft.client_msg_id) for p in live if p.draft.client_msg_id}
        earlier = await self.messages.by_client_ids(keys) if keys else {}
        first: dict[tuple[int, str], PendingSend] = {}
        writers = []
        for p in live:
            cmid = p.draft.client_msg_id
            if cmid:
                key = (p.sender_id, cmid)
                if key in earlier:
                    p.settle(earlier[key], True)
                    continue
                if key in first:
                    p.leader = first[key]
                    continue
                first[key] = p
            writers.append(p)
        return writers
