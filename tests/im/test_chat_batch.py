"""Group commit of chat messages: concurrent sends share transactions, and each
receipt still means "this message is committed", with gap-free seqs per conversation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from _chat_support import CountingDatabase, _CountingTx
from test_chat import GROUP, Env, make_env, send


class TransactionCountingDatabase(CountingDatabase):
    """The real Database, counting transactions as well as writes."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.transactions = 0

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[_CountingTx]:
        self.transactions += 1
        async with super().transaction() as tx:
            yield tx


def with_friends(db: Any, friends: range) -> Env:
    env = make_env(db)
    for uid in friends:
        env.social.add_user(uid)
        env.social.befriend(1, uid)
    return env


async def test_concurrent_sends_share_commits_and_keep_seqs_gap_free(db: Any) -> None:
    counting = TransactionCountingDatabase(db)
    env = with_friends(counting, range(10, 30))
    committed_at_receipt: list[bool] = []

    async def send_and_check(to: int, n: int) -> dict[str, str]:
        receipt = await send(env, 1, f"/queue/chat/{to}", content=f"{to}:{n}")
        # visible to any other connection the moment the receipt exists
        found = await db.fetch_val(
            "SELECT COUNT(*) FROM chat_message WHERE id = ?", (int(receipt["message-id"]),)
        )
        committed_at_receipt.append(found == 1)
        return receipt

    warm_up = await send(env, 1, "/queue/chat/10", content="warm-up")  # seq 1 there
    counting.transactions = 0
    receipts = await asyncio.gather(
        *(send_and_check(to, n) for n in range(10) for to in range(10, 30))
    )

    assert len(receipts) == 200 and all(committed_at_receipt)
    assert counting.transactions < 100, counting.transactions  # batched, not one per message
    by_conversation: dict[str, list[int]] = {}
    for receipt in receipts:
        by_conversation.setdefault(receipt["conversation-id"], []).append(int(receipt["seq"]))
    assert len(by_conversation) == 20
    for cid, seqs in by_conversation.items():
        first = 2 if cid == warm_up["conversation-id"] else 1
        assert sorted(seqs) == list(range(first, first + 10)), (cid, seqs)
    rows = await db.fetch_all("SELECT conversation_id, seq, id FROM chat_message ORDER BY id")
    assert len(rows) == 201
    # within a conversation ids grow with seqs (the private-queue resume relies on it)
    last_seq: dict[int, int] = {}
    for row in rows:
        assert row["seq"] > last_seq.get(row["conversation_id"], 0)
        last_seq[row["conversation_id"]] = row["seq"]
    stored = await db.fetch_all("SELECT id, last_seq FROM chat_conversation")
    assert sorted(r["last_seq"] for r in stored) == [10] * 19 + [11]


async def test_group_sends_in_one_batch_get_consecutive_seqs_and_publish_in_order(db: Any) -> None:
    env = make_env(db)
    receipts = await asyncio.gather(
        *(send(env, uid, f"/topic/chat/{GROUP}", content=f"{uid}-{n}")
          for n in range(15) for uid in (1, 2, 3))
    )
    assert sorted(int(r["seq"]) for r in receipts) == list(range(1, 46))
    published = [int(headers["seq"]) for _, headers in env.pub.to(f"/topic/chat/{GROUP}")]
    assert published == list(range(1, 46))  # subscribers see the seq order
    cursors = await db.fetch_all("SELECT user_id, read_seq FROM chat_cursor")
    # each sender's cursor sits at its own last message
    last_by_sender: dict[int, int] = {}
    for receipt, uid in zip(receipts, (uid for _ in range(15) for uid in (1, 2, 3)), strict=False):
        last_by_sender[uid] = max(last_by_sender.get(uid, 0), int(receipt["seq"]))
    assert {c["user_id"]: c["read_seq"] for c in cursors} == last_by_sender


async def test_a_duplicate_inside_one_batch_is_stored_once(db: Any) -> None:
    env = with_friends(db, range(10, 14))
    jobs = [send(env, 1, "/queue/chat/2", content="same", clientMsgId="dup-1") for _ in range(3)]
    jobs += [send(env, 1, f"/queue/chat/{to}", content="other") for to in range(10, 14)]
    receipts = await asyncio.gather(*jobs)
    dup_ids = {r["message-id"] for r in receipts[:3]}
    assert len(dup_ids) == 1
    assert sum(r.get("x-duplicate") == "true" for r in receipts[:3]) == 2
    assert int(await db.fetch_val(
        "SELECT COUNT(*) FROM chat_message WHERE client_msg_id = 'dup-1'")) == 1
    # the other messages of the batch were stored as well, each once
    assert int(await db.fetch_val("SELECT COUNT(*) FROM chat_message")) == 5
    assert len(env.pub.to("/queue/chat/2")) == 1  # the duplicate is not re-broadcast
