"""Group commit of chat sends (stompim.im.chat_batch) over the real social services and
real tables, on SQLite and MariaDB: rights checked per batch, refusals and duplicates
inside a batch, database failures, and "receipt after commit" checked from a second,
independent connection."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from _chat_support import Clock

from stompim.config import ImConfig
from stompim.errors import InvalidValue
from stompim.im.chat import ChatService, SendResult
from stompim.im.chat_facts import CallFacts, RepositoryFacts
from stompim.im.errors import (
    BAD_REQUEST,
    BLOCKED,
    GROUP_MUTED,
    GROUP_NOT_FOUND,
    NOT_FRIENDS,
    NOT_GROUP_MEMBER,
    SEND_FAILED,
    USER_NOT_FOUND,
    ImError,
)
from stompim.im.friends import FriendService
from stompim.im.groups import GroupService
from stompim.im.messages import ChatType, MessageDraft
from stompim.im.notifications import NotificationService
from stompim.stomp.publisher import StompPublisher
from stompim.store.database import Database, open_database
from stompim.store.messages import MessageRepository, NewMessage
from stompim.store.users import UserRepository


def text(content: str, client_msg_id: str | None = None) -> MessageDraft:
    return MessageDraft(type="text", content=content, extra=None, client_msg_id=client_msg_id)


class CheckingRecorder:
    """Records publishes; with `witness` set, checks at each publish that the message
    row is already visible from that other connection (published after commit)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []
        self.witness: Database | None = None
        self.unseen: list[str] = []

    async def publish(
        self, destination: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        headers = dict(headers or {})
        if self.witness is not None:
            found = await self.witness.fetch_val(
                "SELECT COUNT(*) FROM chat_message WHERE id = ?", (int(headers["message-id"]),)
            )
            if int(found) != 1:
                self.unseen.append(headers["message-id"])
        self.published.append((destination, body, headers))

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        return None

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        return None


class World:
    """Real FriendService / GroupService / UserRepository and a ChatService over them."""

    def __init__(self, db: Database, **im: Any) -> None:
        self.db = db
        self.pub = CheckingRecorder()
        publisher = StompPublisher(self.pub)
        notifications = NotificationService(db, publisher)
        self.friends = FriendService(db, notifications)
        self.groups = GroupService(db, publisher, notifications, max_group_size=5000)
        self.users = UserRepository(db)
        self.chat = ChatService(
            config=ImConfig(**im),
            db=db,
            publisher=publisher,
            friends=self.friends,
            groups=self.groups,
            users=self.users,
            clock=Clock(),
        )

    async def user(self, name: str) -> int:
        return (await self.users.create(username=name, password_hash="x", nickname=name)).id

    async def befriend(self, a: int, b: int) -> None:
        async with self.db.transaction() as tx:
            await self.friends.repo.make_friends(tx, a, b, 1)

    async def group(self, owner: int, members: list[int]) -> int:
        gid = int((await self.groups.create(owner, name=f"g{owner}"))["id"])
        await self.db.executemany(
            "INSERT INTO group_member (group_id, user_id, role, nickname, muted, status,"
            " joined_at, updated_at) VALUES (?, ?, 0, '', 0, 1, 0, 0)",
            [(gid, uid) for uid in members],
        )
        return gid


@pytest.fixture
async def witness(
    db: Database, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Database]:
    """A second, independent connection to the same database as `db`."""
    if db.dialect == "mysql":
        url = request.getfixturevalue("mysql_session_url")
    else:
        url = f"sqlite:///{tmp_path / 'stompim-test.db'}"
    other = await open_database(url)
    try:
        yield other
    finally:
        await other.close()


@pytest.mark.parametrize("returning", [None, False], ids=["server-default", "select-ids"])
async def test_concurrent_sends_commit_before_their_receipts(
    db: Database, witness: Database, returning: bool | None
) -> None:
    w = World(db)
    # False: the new ids are read back with a SELECT (MySQL 8 has no INSERT ... RETURNING)
    w.chat.batcher.messages = MessageRepository(db, insert_returning=returning)
    sender = await w.user("sender")
    peers = [await w.user(f"peer{i}") for i in range(20)]
    for peer in peers:
        await w.befriend(sender, peer)
    w.pub.witness = witness
    seen_at_receipt: list[bool] = []

    async def send(peer: int, n: int) -> SendResult:
        result = await w.chat.send_private(sender, peer, text(f"{peer}:{n}"))
        found = await witness.fetch_val(
            "SELECT COUNT(*) FROM chat_message WHERE id = ?", (result.message.id,)
        )
        seen_at_receipt.append(int(found) == 1)
        return result

    results = await asyncio.gather(*(send(peer, n) for n in range(10) for peer in peers))

    assert len(results) == 200 and all(seen_at_receipt) and not w.pub.unseen
    assert w.chat.batcher.batches < 20, w.chat.batcher.batches  # shared commits
    assert not w.chat.batcher.writing  # the writer is gone once the queue is empty
    rows = await witness.fetch_all(
        "SELECT id, conversation_id, seq, sender_id, content FROM chat_message ORDER BY id"
    )
    assert len(rows) == 200  # each message stored once
    by_id = {int(r["id"]): r for r in rows}
    for result in results:  # every receipt names its own stored row
        row = by_id[result.message.id]
        assert (int(row["conversation_id"]), int(row["seq"]), row["content"]) == (
            result.message.conversation_id,
            result.message.seq,
            result.message.content,
        )
        assert not result.duplicate
    per_conversation: dict[int, list[int]] = {}
    for row in rows:
        per_conversation.setdefault(int(row["conversation_id"]), []).append(int(row["seq"]))
    assert len(per_conversation) == 20
    for seqs in per_conversation.values():
        assert seqs == list(range(1, 11))  # contiguous, and ids grow with seqs
    # in one conversation, the order of the contents is the order of the sends
    contents = [
        r["content"]
        for r in rows
        if int(r["conversation_id"]) == results[0].message.conversation_id
    ]
    assert contents == [f"{peers[0]}:{n}" for n in range(10)]
    last = await witness.fetch_all("SELECT last_seq FROM chat_conversation")
    assert [int(r["last_seq"]) for r in last] == [10] * 20
    cursors = await witness.fetch_all(
        "SELECT read_seq FROM chat_cursor WHERE user_id = ?", (sender,)
    )
    assert sorted(int(r["read_seq"]) for r in cursors) == [10] * 20  # own messages are read


async def test_refusals_inside_a_batch_leave_the_other_sends_alone(db: Database) -> None:
    w = World(db)
    alice, bob, carol, dave, erin = [
        await w.user(n) for n in ("alice", "bob", "carol", "dave", "erin")
    ]
    await w.befriend(alice, bob)
    await w.befriend(alice, erin)
    await w.friends.block(erin, alice)  # friends, but erin blocked alice
    gid = await w.group(alice, [bob, carol])
    await db.execute(
        "UPDATE group_member SET muted = 1 WHERE group_id = ? AND user_id = ?", (gid, carol)
    )
    jobs = {
        "ok-private": w.chat.send_private(alice, bob, text("hi bob")),
        "stranger": w.chat.send_private(alice, carol, text("hi carol")),
        "blocked": w.chat.send_private(alice, erin, text("hi erin")),
        "ok-group": w.chat.send_group(bob, gid, text("hi all")),
        "not-member": w.chat.send_group(dave, gid, text("let me in")),
        "muted": w.chat.send_group(carol, gid, text("psst")),
        "no-group": w.chat.send_group(alice, gid + 1000, text("anyone?")),
        "ok-private-2": w.chat.send_private(bob, alice, text("hi alice")),
    }
    outcomes = dict(
        zip(jobs, await asyncio.gather(*jobs.values(), return_exceptions=True), strict=False)
    )

    assert w.chat.batcher.batches == 1  # all of them went through one batch
    codes = {k: v.code for k, v in outcomes.items() if isinstance(v, ImError)}
    assert codes == {
        "stranger": NOT_FRIENDS,
        "blocked": BLOCKED,
        "not-member": NOT_GROUP_MEMBER,
        "muted": GROUP_MUTED,
        "no-group": GROUP_NOT_FOUND,
    }
    stored = await db.fetch_all("SELECT content, seq FROM chat_message ORDER BY id")
    assert [(r["content"], int(r["seq"])) for r in stored] == [
        ("hi bob", 1),
        ("hi all", 1),
        ("hi alice", 2),
    ]
    for key in ("ok-private", "ok-group", "ok-private-2"):
        assert isinstance(outcomes[key], SendResult)
    assert len(w.pub.published) == 2 + 1 + 2  # two queues per private message, one topic


async def test_strangers_may_chat_when_allowed_but_only_with_existing_users(db: Database) -> None:
    w = World(db, allow_stranger_chat=True)
    alice, bob = await w.user("alice"), await w.user("bob")
    ok, missing = await asyncio.gather(
        w.chat.send_private(alice, bob, text("hello")),
        w.chat.send_private(alice, 999_999, text("hello?")),
        return_exceptions=True,
    )
    assert isinstance(ok, SendResult) and ok.message.seq == 1
    assert isinstance(missing, ImError) and missing.code == USER_NOT_FOUND


async def test_duplicates_inside_one_batch_are_stored_once(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stompim.store.messages")
    w = World(db)
    alice, bob, carol = await w.user("alice"), await w.user("bob"), await w.user("carol")
    await w.befriend(alice, bob)
    await w.befriend(alice, carol)
    earlier = await w.chat.send_private(alice, bob, text("first", "c-0"))
    batches = w.chat.batcher.batches
    results = await asyncio.gather(
        w.chat.send_private(alice, bob, text("again", "c-1")),
        w.chat.send_private(alice, bob, text("again", "c-1")),
        w.chat.send_private(alice, bob, text("first", "c-0")),  # stored before this batch
        w.chat.send_private(alice, carol, text("elsewhere", "c-1")),  # id reused elsewhere
        w.chat.send_private(alice, bob, text("again", "c-1")),
        w.chat.send_private(alice, carol, text("plain")),
        return_exceptions=True,
    )
    assert w.chat.batcher.batches == batches + 1
    first, second, old, reused, third, plain = results
    assert isinstance(first, SendResult) and not first.duplicate
    for again in (second, third):
        assert isinstance(again, SendResult) and again.duplicate
        assert again.message == first.message
    assert isinstance(old, SendResult) and old.duplicate and old.message == earlier.message
    assert isinstance(reused, ImError) and reused.code == SEND_FAILED and reused.status == 409
    assert isinstance(plain, SendResult) and plain.message.seq == 1
    rows = await db.fetch_all("SELECT client_msg_id, seq FROM chat_message ORDER BY id")
    assert [(r["client_msg_id"], int(r["seq"])) for r in rows] == [
        ("c-0", 1),
        ("c-1", 2),
        (None, 1),
    ]
    assert first.message.seq == 2  # the duplicates took no seq
    assert len([p for p in w.pub.published if p[2]["message-id"] == str(first.message.id)]) == 2
    assert "halves apart" not in caplog.text  # deduplicated before the INSERT, no retry


async def test_a_unique_key_conflict_in_a_batch_loses_none_of_the_others(db: Database) -> None:
    """A resend that slips past the look-up (another node stored it meanwhile) fails the
    batch's multi-row INSERT; its halves are then written apart, down to the one at fault."""
    w = World(db)
    alice, bob = await w.user("alice"), await w.user("bob")
    await w.befriend(alice, bob)
    first = await w.chat.send_private(alice, bob, text("first"))
    cid = first.message.conversation_id
    item = functools.partial(NewMessage, cid, alice, ChatType.PRIVATE, bob, now=5)
    outcomes = await w.chat.messages.write_batch(
        [
            item(text("a")),
            item(text("b", "k-1")),
            item(text("b again", "k-1")),
            item(text("c")),
        ]
    )
    records = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(records) == 4
    assert [(r.content, r.seq, dup) for r, dup in records] == [
        ("a", 2, False),
        ("b", 3, False),
        ("b", 3, True),
        ("c", 4, False),
    ]
    assert (
        int(await db.fetch_val("SELECT last_seq FROM chat_conversation WHERE id = ?", (cid,))) == 4
    )


async def test_a_database_failure_fails_its_batch_and_the_writer_goes_on(db: Database) -> None:
    w = World(db)
    alice, bob, carol = await w.user("alice"), await w.user("bob"), await w.user("carol")
    await w.befriend(alice, bob)
    await w.befriend(alice, carol)
    await w.chat.send_private(alice, bob, text("before"))
    await db.execute("ALTER TABLE chat_message RENAME TO chat_message_away")
    try:
        failed = await asyncio.gather(
            *(
                w.chat.send_private(alice, peer, text(f"lost {n}"))
                for n in range(3)
                for peer in (bob, carol)
            ),
            return_exceptions=True,
        )
    finally:
        await db.execute("ALTER TABLE chat_message_away RENAME TO chat_message")
    assert all(isinstance(f, ImError) and f.code == SEND_FAILED for f in failed), failed
    assert not w.pub.published[2:]  # nothing of the failed batch was published
    after = await w.chat.send_private(alice, bob, text("after"))
    assert after.message.seq == 2  # the failed batch rolled back its seqs too
    rows = await db.fetch_all("SELECT content FROM chat_message ORDER BY id")
    assert [r["content"] for r in rows] == ["before", "after"]


@pytest.mark.mysql
async def test_a_value_the_schema_rejects_fails_only_its_own_message(db: Database) -> None:
    if db.dialect != "mysql":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    w = World(db)
    alice, bob = await w.user("alice"), await w.user("bob")
    await w.befriend(alice, bob)
    bad = MessageDraft(type="t" * 40, content="x", extra=None, client_msg_id=None)  # VARCHAR(16)
    one, refused, two = await asyncio.gather(
        w.chat.send_private(alice, bob, text("one")),
        w.chat.send_private(alice, bob, bad),
        w.chat.send_private(bob, alice, text("two")),
        return_exceptions=True,
    )
    assert isinstance(refused, ImError) and refused.code == BAD_REQUEST, refused
    assert isinstance(one, SendResult) and isinstance(two, SendResult)
    assert (one.message.seq, two.message.seq) == (1, 2)  # the refused one took no seq
    rows = await db.fetch_all("SELECT content FROM chat_message ORDER BY id")
    assert [r["content"] for r in rows] == ["one", "two"]
    later = await w.chat.send_private(alice, bob, text("later"))
    assert later.message.seq == 3


async def test_batched_rights_agree_with_the_per_call_checks(db: Database) -> None:
    w = World(db)
    ids = [await w.user(f"u{i}") for i in range(6)]
    a, b, c, d, e, f = ids
    await w.befriend(a, b)
    await w.befriend(a, c)
    await w.friends.block(c, a)
    await w.friends.block(d, e)
    await w.befriend(e, f)
    await w.friends.delete_friend(e, f)
    g1 = await w.group(a, [b, c])
    g2 = await w.group(d, [e])
    await w.groups.dissolve(d, g2)
    await w.groups.quit(c, g1)
    pairs = {(x, y) for x in ids for y in ids if x != y}
    memberships = {(g, u) for g in (g1, g2, g2 + 99) for u in ids}
    batched = RepositoryFacts(w.friends.repo, w.groups.repo)
    per_call = CallFacts(w.friends, w.groups)
    assert await batched.private(pairs) == await per_call.private(pairs)
    assert (await batched.private(pairs)).friends  # not trivially empty
    assert (await batched.private(pairs)).blocked
    assert (
        set(await batched.groups({g1, g2, g2 + 99}))
        == set(await per_call.groups({g1, g2, g2 + 99}))
        == {g1}
    )
    assert dict(await batched.members(memberships)) == dict(await per_call.members(memberships))
    assert isinstance(w.chat.batcher.facts, RepositoryFacts)  # the SQL services get batch queries


async def test_a_lone_send_waits_for_no_timer(db: Database) -> None:
    w = World(db)
    alice, bob = await w.user("alice"), await w.user("bob")
    await w.befriend(alice, bob)
    for n in range(3):
        result = await w.chat.send_private(alice, bob, text(f"m{n}"))
        assert result.message.seq == n + 1
        assert w.chat.batcher.batches == n + 1  # one batch each, written at once
        assert not w.chat.batcher.writing


async def test_enqueued_sends_keep_call_order_across_batches(db: Database) -> None:
    """The synchronous `enqueue_*` half (for a session that pipelines its SENDs): sends
    queued in one go keep their call order in seqs, ids and publishes, over many batches."""
    w = World(db)
    alice, bob = await w.user("alice"), await w.user("bob")
    await w.befriend(alice, bob)
    gid = await w.group(alice, [bob])
    w.chat.batcher.max_batch = 40
    with pytest.raises(ImError):
        w.chat.enqueue_private(alice, alice, text("me"))  # refused at once, nothing queued
    futures = []
    for n in range(150):
        futures.append(w.chat.enqueue_private(alice, bob, text(f"p{n}")))
        futures.append(w.chat.enqueue_group(bob if n % 2 else alice, gid, text(f"g{n}")))
    results = await asyncio.gather(*futures)
    assert w.chat.batcher.batches == 300 // 40 + 1
    private = [r.message for r in results[0::2]]
    group = [r.message for r in results[1::2]]
    assert [m.seq for m in private] == list(range(1, 151))
    assert [m.seq for m in group] == list(range(1, 151))
    assert [m.content for m in private] == [f"p{n}" for n in range(150)]
    ids = [r.message.id for r in results]
    assert ids == sorted(ids)  # ids follow the call order as well
    topic = [int(h["seq"]) for d, _, h in w.pub.published if d == f"/topic/chat/{gid}"]
    assert topic == list(range(1, 151))  # subscribers see the seq order


async def test_an_out_of_range_value_fails_only_its_own_message(db: Database) -> None:
    """`toUserId: 1e30` is refused at the edge; if such a value still reaches a batch,
    the store refuses it alone (InvalidValue) and writes the others."""
    w = World(db)
    alice, bob = await w.user("alice"), await w.user("bob")
    await w.befriend(alice, bob)
    first = await w.chat.send_private(alice, bob, text("first"))
    cid = first.message.conversation_id
    item = functools.partial(NewMessage, cid, alice, ChatType.PRIVATE, bob)
    outcomes = await w.chat.messages.write_batch(
        [item(text("a"), 5), item(text("huge"), 2**63), item(text("c"), 6)]
    )
    assert isinstance(outcomes[1], InvalidValue)
    stored = [o for o in outcomes if not isinstance(o, BaseException)]
    assert [(r.content, r.seq) for r, _ in stored] == [("a", 2), ("c", 3)]


async def test_a_withdrawn_send_is_never_stored(db: Database) -> None:
    w = World(db)
    alice, bob = await w.user("alice"), await w.user("bob")
    await w.befriend(alice, bob)
    kept = w.chat.enqueue_private(alice, bob, text("kept"))
    withdrawn = w.chat.enqueue_private(alice, bob, text("withdrawn"))
    assert withdrawn.cancel()  # still queued: the writer has not taken it
    assert (await kept).message.seq == 1
    assert withdrawn.cancelled()
    rows = await db.fetch_all("SELECT content FROM chat_message")
    assert [r["content"] for r in rows] == ["kept"]
    assert w.pub.published and all(b"withdrawn" not in body for _, body, _ in w.pub.published)


async def test_a_send_being_committed_cannot_be_withdrawn(db: Database) -> None:
    w = World(db)
    alice, bob = await w.user("alice"), await w.user("bob")
    await w.befriend(alice, bob)
    sending = w.chat.enqueue_private(alice, bob, text("on its way"))
    await asyncio.sleep(0)  # one turn of the loop: the writer takes its batch
    assert sending.committing
    assert not sending.cancel()  # too late: it still resolves, with what became of it
    result = await sending
    assert not sending.cancelled() and result.message.content == "on its way"
    assert int(await db.fetch_val("SELECT COUNT(*) FROM chat_message")) == 1
