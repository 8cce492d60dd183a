"""Message search on SQLite (FTS5 trigram) and MariaDB (FULLTEXT over Python-made
tokens): Chinese and English words among 10,000 stored messages, found only in the
searching user's own conversations, never once recalled; paging by cursor."""

from __future__ import annotations

from typing import Any

import pytest

from stompim.im.errors import CONVERSATION_NOT_FOUND, ImError
from stompim.im.search import SearchService
from stompim.store import Database, migrate
from stompim.store.conversations import ConversationRecord, ConversationRepository
from stompim.store.messages import MessageRepository, NewMessage
from stompim.store.records import ChatType, MessageDraft

TOTAL = 10_000
FILLER = ["今天天气很好", "see you tomorrow", "晚饭吃什么", "the build is green", "好的，收到",  # noqa: RUF001 (Chinese punctuation on purpose)
          "ok 👍", "明天见", "lunch at noon?"]
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4


class Access:
    """require_access as the conversation service does it, over the real rows."""

    def __init__(self, repo: ConversationRepository, members: set[tuple[int, int]]) -> None:
        self.repo = repo
        self.members = members

    async def require_access(self, user_id: int, conversation_id: int) -> ConversationRecord:
        conv = await self.repo.get(conversation_id)
        if conv is not None and (
            (conv.chat_type is ChatType.PRIVATE and conv.has_participant(user_id))
            or (conv.chat_type is ChatType.GROUP and (conv.group_id, user_id) in self.members)
        ):
            return conv
        raise ImError(CONVERSATION_NOT_FOUND, "conversation not found", 404)

    async def groups_of(self, user_id: int) -> list[int]:
        return [g for g, u in self.members if u == user_id]


@pytest.fixture
async def stored(db: Database) -> dict[str, Any]:
    await migrate(db)
    repo = ConversationRepository(db)
    convs = {
        "mine": await repo.ensure_private(ALICE, BOB, 1),
        "theirs": await repo.ensure_private(CAROL, DAVE, 1),
        "my_group": await repo.ensure_group(10, 1),
        "other_group": await repo.ensure_group(20, 1),
    }
    members = {(10, ALICE), (10, BOB), (20, CAROL), (20, DAVE)}
    senders = {"mine": (ALICE, BOB), "theirs": (CAROL, DAVE), "my_group": (BOB, 10),
               "other_group": (CAROL, 20)}
    # the needles: where each one is, by conversation name and message index (message i
    # goes to conversation names[i % 4])
    needles = {
        "会议纪要已发出": {"mine": [100, 5000, 9000], "theirs": [201, 7001],
                          "my_group": [302, 8002], "other_group": [403]},
        "Quarterly report due": {"mine": [152, 6000], "theirs": [253],
                                 "my_group": [9502], "other_group": [451]},
    }
    names = list(convs)
    placed = {(name, i): text for text, where in needles.items()
              for name, idx in where.items() for i in idx}
    messages = MessageRepository(db)
    ids: dict[tuple[str, int], int] = {}
    batch: list[tuple[str, int, NewMessage]] = []
    for i in range(TOTAL):
        name = names[i % 4]
        key = (name, i)
        text = placed.get(key, f"{FILLER[i % len(FILLER)]} #{i}")
        sender, target = senders[name]
        conv = convs[name]
        batch.append((name, i, NewMessage(
            conversation_id=conv.id, sender_id=sender, chat_type=conv.chat_type,
            target_id=target, draft=MessageDraft("text", text, None, None), now=1000 + i,
        )))
        if len(batch) == 500 or i == TOTAL - 1:
            results = await messages.write_batch([m for _, _, m in batch])
            for (n, j, _), result in zip(batch, results, strict=True):
                assert not isinstance(result, Exception), result
                ids[(n, j)] = result[0].id
            batch = []
    assert all(names[i % 4] == name for name, i in placed)
    access = Access(repo, members)
    return {"db": db, "convs": convs, "ids": ids, "placed": placed,
            "service": SearchService(db, access, access), "messages": messages,
            "members": members}


def _ids(page: dict[str, Any]) -> list[int]:
    return [m["id"] for m in page["list"]]


def _expected(stored: dict[str, Any], text: str, names: tuple[str, ...]) -> list[int]:
    return sorted((stored["ids"][k] for k, t in stored["placed"].items()
                   if t == text and k[0] in names), reverse=True)


MINE = ("mine", "my_group")


async def test_words_are_found_in_own_conversations_only(stored: dict[str, Any]) -> None:
    want = _expected(stored, "会议纪要已发出", MINE)
    # the whole word, a pair (an index term on MariaDB, a scan on SQLite), a single
    # character (a scan on both), a run across words
    for keyword in ["会议纪要", "纪要", "纪", "议纪要已"]:
        page = await stored["service"].find(ALICE, keyword, limit=100)
        assert _ids(page) == want and page["hasMore"] is False, keyword
        assert {m["conversationId"] for m in page["list"]} == {
            stored["convs"]["mine"].id, stored["convs"]["my_group"].id}
        assert all(m["content"] == "会议纪要已发出" for m in page["list"])
    # English: case ignored, words and word starts
    for keyword in ["quarterly", "QUARTERLY report", "Quart", "report due"]:
        page = await stored["service"].find(ALICE, keyword, limit=100)
        assert _ids(page) == _expected(stored, "Quarterly report due", MINE), keyword


async def test_another_user_sees_only_theirs(stored: dict[str, Any]) -> None:
    page = await stored["service"].find(CAROL, "会议纪要", limit=100)
    assert _ids(page) == _expected(stored, "会议纪要已发出", ("theirs", "other_group"))
    assert await stored["service"].find(BOB, "nothing-like-this", limit=100) == {
        "list": [], "nextCursor": None, "hasMore": False}


async def test_paging_filter_and_recall(stored: dict[str, Any]) -> None:
    svc: SearchService = stored["service"]
    want = _expected(stored, "会议纪要已发出", MINE)
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        page = await svc.find(ALICE, "会议纪要", cursor=cursor, limit=2)
        seen += _ids(page)
        cursor = page["nextCursor"]
        if not page["hasMore"]:
            assert cursor is None
            break
    assert seen == want
    # a common word: the newest 300 messages of the scope hold a page of it, which is
    # the answer without the index; it must agree with the data
    common = [stored["ids"][("my_group", i)] for i in range(TOTAL - 1, -1, -1)
              if i % 8 == 6 and ("my_group", i) not in stored["placed"]]
    page = await svc.find(ALICE, "明天见", limit=5)
    assert _ids(page) == common[:5] and page["hasMore"] is True
    page = await svc.find(ALICE, "明天见", limit=5, cursor=page["nextCursor"])
    assert _ids(page) == common[5:10]
    for keyword in ("会议纪要", "quarterly report"):  # rare: the index answers
        page = await svc.find(ALICE, keyword, limit=1)
        assert page["hasMore"] is True

    mine = stored["convs"]["mine"].id
    only = await svc.find(ALICE, "会议纪要", conversation_id=mine, limit=100)
    assert _ids(only) == _expected(stored, "会议纪要已发出", ("mine",))
    with pytest.raises(ImError) as err:
        await svc.find(ALICE, "会议纪要", conversation_id=stored["convs"]["theirs"].id)
    assert err.value.code == CONVERSATION_NOT_FOUND

    recalled = _ids(only)[0]
    assert await stored["messages"].mark_recalled(recalled, 99)
    for keyword in ("会议纪要", "纪"):
        after = await svc.find(ALICE, keyword, conversation_id=mine, limit=100)
        assert recalled not in _ids(after) and len(_ids(after)) == len(_ids(only)) - 1

    # leaving the group takes its messages out of the results
    stored["members"].discard((10, ALICE))
    page = await svc.find(ALICE, "会议纪要", limit=100)
    assert _ids(page) == [i for i in _expected(stored, "会议纪要已发出", ("mine",))
                          if i != recalled]


async def test_bad_input(stored: dict[str, Any]) -> None:
    for keyword in ("", "   ", "x" * 101):
        with pytest.raises(ImError) as err:
            await stored["service"].find(ALICE, keyword)
        assert err.value.code == 9001
    assert _ids(await stored["service"].find(ALICE, "?!", limit=5)) == []
    with pytest.raises(ImError):
        await stored["service"].find(ALICE, "会议", cursor="abc")
