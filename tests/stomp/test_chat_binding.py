"""The STOMP binding of chat (stompim.stomp.chat) over the real services and database:
wire values checked as text (ids and x-since-seq in ASCII digits, signed 64-bit), the
RECEIPT Future (withdrawn while queued, kept once committing, Unavailable answered as
refusal 3001), and what StompPublisher puts on which destination."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import orjson
import pytest

from stompim.broker.auth import Principal
from stompim.config import Config
from stompim.errors import Unavailable
from stompim.im.errors import BAD_REQUEST, SEND_FAILED, ImError
from stompim.im.services import ImServices, build_services
from stompim.stomp.chat import ChatDestinationHandler, _MappedFuture
from stompim.stomp.destinations import since_seq
from stompim.stomp.publisher import StompPublisher
from stompim.store import Database, KeyValue

SECRET = "binding-tests-secret-of-stompim-0123456789"
BIG = "9" * 30


@dataclass
class Recorder:
    published: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    ended: list[tuple[int, str, str]] = field(default_factory=list)

    async def publish(
        self, destination: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        self.published.append((destination, body, dict(headers or {})))

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        return None

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        self.ended.append((user_id, destination, reason))


@dataclass
class World:
    services: ImServices
    recorder: Recorder
    handler: ChatDestinationHandler
    alice: Principal
    bob: Principal


@pytest.fixture
async def world(db: Database, memory_kv: KeyValue) -> AsyncIterator[World]:
    config = Config().replace(auth={"jwt_secret": SECRET, "bcrypt_rounds": 4})
    recorder = Recorder()
    services = build_services(config, db, memory_kv, StompPublisher(recorder))
    ids = []
    for name in ("alice", "bob"):
        ids.append((await services.accounts.register(username=name, password="passw0rd-1")).id)
    await services.friends.send_request(ids[0], ids[1])
    await services.friends.send_request(ids[1], ids[0])
    yield World(
        services, recorder, ChatDestinationHandler(services.chat),
        Principal(ids[0], "alice"), Principal(ids[1], "bob"),
    )


def body(**fields: object) -> bytes:
    return orjson.dumps(fields)


async def test_receipt_and_deliveries_of_a_private_message(world: World) -> None:
    a, b = world.alice, world.bob
    world.recorder.published.clear()  # the friendship's notifications
    receipt = await world.handler.begin_send(
        a, "/app/chat/private", {"x-client-msg-id": "c-1"},
        body(toUserId=b.user_id, content="hi"),
    )
    assert set(receipt) == {"message-id", "seq", "conversation-id"}
    dests = [d for d, _, _ in world.recorder.published]
    assert dests == [f"/queue/chat/{b.user_id}", f"/queue/chat/{a.user_id}"]
    headers = world.recorder.published[0][2]
    assert headers["message-id"] == receipt["message-id"]
    assert headers["seq"] == headers["x-inbox-seq"] == "1"   # queue: the place in the inbox
    again = await world.handler.begin_send(
        a, f"/queue/chat/{b.user_id}", {"x-client-msg-id": "c-1"}, b"hi"
    )
    assert again["x-duplicate"] == "true" and again["message-id"] == receipt["message-id"]


@pytest.mark.parametrize(
    ("destination", "fields"),
    [
        ("/app/chat/private", {"toUserId": 1e30}),
        ("/app/chat/private", {"toUserId": 2**64 - 1}),  # orjson keeps uint64 as int
        ("/app/chat/private", {"toUserId": BIG}),
        ("/app/chat/private", {"toUserId": "²"}),
        ("/app/chat/group", {"groupId": -3}),
        (f"/queue/chat/{BIG}", {}),
        ("/queue/chat/²", {}),
        ("/queue/chat/٣", {}),
        ("/topic/chat/0", {}),
        ("/topic/chat/1_000", {}),
    ],
)
async def test_out_of_range_and_non_ascii_ids_are_refused_at_once(
    world: World, destination: str, fields: dict[str, object]
) -> None:
    with pytest.raises(ImError) as err:
        world.handler.begin_send(world.alice, destination, {}, body(content="x", **fields))
    assert err.value.code == BAD_REQUEST
    assert int(await world.services.db.fetch_val("SELECT COUNT(*) FROM chat_message")) == 0


async def test_subscribe_and_resume_check_their_numbers(world: World) -> None:
    a = world.alice
    for bad in (f"/queue/chat/{BIG}", "/topic/chat/²"):
        with pytest.raises(ImError):
            await world.handler.authorize_subscribe(a, bad)
    with pytest.raises(ImError, match="x-since-seq"):
        await world.handler.replay(a, f"/queue/chat/{a.user_id}", int(BIG))
    with pytest.raises(ImError):
        since_seq("-1")
    assert since_seq("0") == 0 and since_seq(str(2**63 - 1)) == 2**63 - 1
    assert await world.handler.replay(a, f"/queue/chat/{a.user_id}", 0) == []


async def test_a_receipt_future_withdraws_a_queued_send(world: World) -> None:
    a, b = world.alice, world.bob
    kept = world.handler.begin_send(a, "/app/chat/private", {}, body(toUserId=b.user_id,
                                                                      content="kept"))
    gone = world.handler.begin_send(a, "/app/chat/private", {}, body(toUserId=b.user_id,
                                                                      content="gone"))
    assert gone.cancel() and gone.cancelled()
    await kept
    contents = [r["content"] for r in
                await world.services.db.fetch_all("SELECT content FROM chat_message")]
    assert contents == ["kept"]


async def test_a_receipt_future_keeps_a_send_being_committed(world: World) -> None:
    a, b = world.alice, world.bob
    queued = world.handler.enqueue(a.user_id, "/app/chat/private", {},
                                   body(toUserId=b.user_id, content="committed"))
    receipt = _MappedFuture(queued, lambda r: {"message-id": str(r.message.id)})
    await asyncio.sleep(0)  # one turn of the loop: the writer takes its batch
    assert queued.committing
    assert not receipt.cancel()  # it still resolves: the batch is being stored
    assert (await receipt)["message-id"]


async def test_a_database_outage_is_answered_as_refusal_3001() -> None:
    source: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    receipt = _MappedFuture(source, lambda n: {"n": str(n)})
    source.set_exception(Unavailable("database", "no database connection within 3 s, retry"))
    with pytest.raises(ImError) as err:
        await receipt
    assert (err.value.code, err.value.status) == (SEND_FAILED, 503)
    assert "no database connection" in err.value.message


async def test_leaving_a_group_ends_its_topic(world: World) -> None:
    a, b = world.alice, world.bob
    group = await world.services.groups.create(a.user_id, name="g", member_ids=[b.user_id])
    await world.services.groups.quit(b.user_id, int(group["id"]))
    assert world.recorder.ended == [(b.user_id, f"/topic/chat/{group['id']}", "left the group")]


async def test_a_hole_fill_is_the_same_for_every_member(world: World) -> None:
    """`replay` (a SUBSCRIBE's resume) is what the asker sees: not the message they
    deleted for themselves, and the edit events first; `fill` (one query for every
    session with a hole) is the group's messages as they are, for whoever asks first."""
    a, b = world.alice, world.bob
    group = await world.services.groups.create(a.user_id, name="g", member_ids=[b.user_id])
    topic = f"/topic/chat/{group['id']}"
    sent = [
        await world.handler.begin_send(b, topic, {}, body(content=f"m{i}")) for i in range(3)
    ]
    seqs = [int(r["seq"]) for r in sent]
    actions = world.services.chat.message_actions
    await actions.delete_for_me(a.user_id, [int(sent[1]["message-id"])])
    await actions.edit(b.user_id, int(sent[0]["message-id"]), "m0 again")

    def seen(rows: list[tuple[dict[str, str], bytes]]) -> list[str]:
        return [h.get("seq") or h["x-event"] for h, _ in rows]

    since = seqs[0]  # the edit of the message at `since` may have been missed
    assert seen(await world.handler.replay(a, topic, since)) == ["edit", str(seqs[2])]
    assert seen(await world.handler.replay(b, topic, since)) == [
        "edit", str(seqs[1]), str(seqs[2])]
    for asker in (a, b):
        assert seen(await world.handler.fill(asker, topic, since)) == [
            str(seqs[1]), str(seqs[2])]
