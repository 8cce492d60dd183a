"""The wire rules of the timeline fields, without a database: what parse_draft accepts as
`replyTo`, `forwardFrom` and `mentions`, the server-only keys of `extra`, the emoji rule,
and the additive keys of message_json (absent unless they apply)."""

from __future__ import annotations

import dataclasses

import pytest

from stompim.im.errors import ImError
from stompim.im.message_actions import check_emoji
from stompim.im.messages import (
    ChatType,
    MessageDraft,
    MessageRecord,
    MessageStatus,
    message_json,
    parse_draft,
)
from stompim.im.timeline_refs import QUOTE_CHARS, quote_of


def parse(**data: object) -> MessageDraft:
    return parse_draft(data, max_length=100)


def test_reply_and_mentions_are_read() -> None:
    draft = parse(content="hi", replyTo="12", mentions=[3, "all", "3", 4])
    assert draft == MessageDraft(
        type="text", content="hi", extra=None, client_msg_id=None, reply_to=12,
        mentions=(3, 4), mention_all=True,
    )


def test_forward_ignores_the_content_fields() -> None:
    draft = parse(forwardFrom=9, type="nonsense", content=5, clientMsgId="c1")
    assert (draft.forward_from, draft.client_msg_id, draft.content) == (9, "c1", "")


@pytest.mark.parametrize("data", [
    {"content": "x", "replyTo": 0},
    {"content": "x", "replyTo": "abc"},
    {"content": "x", "mentions": "all"},
    {"content": "x", "mentions": [True]},
    {"content": "x", "mentions": list(range(1, 60))},
    {"forwardFrom": -1},
    {"type": "custom", "extra": {"reply": {"messageId": 1}}},
    {"type": "custom", "extra": {"mentions": {"all": True}}},
    {"type": "text", "content": "x", "extra": {"forward": {}}},
])
def test_refused_with_9001(data: dict[str, object]) -> None:
    with pytest.raises(ImError) as caught:
        parse_draft(data, max_length=100)
    assert caught.value.code == 9001


@pytest.mark.parametrize(
    "emoji", ["\N{THUMBS UP SIGN}", ":+1:", "\N{MAN}\u200d\N{PERSONAL COMPUTER}"]
)
def test_emoji_accepted(emoji: str) -> None:
    assert check_emoji(emoji) == emoji


@pytest.mark.parametrize("emoji", ["", "a b", "x" * 33, "\x00", "a\nb", 5, None])
def test_emoji_refused(emoji: object) -> None:
    with pytest.raises(ImError):
        check_emoji(emoji)


MSG = MessageRecord(
    id=5, conversation_id=2, seq=3, sender_id=1, chat_type=ChatType.GROUP, target_id=7,
    type="text", content="y" * 150, extra=None, client_msg_id=None,
    status=MessageStatus.NORMAL, created_at=10,
)


def test_quote_is_cut_and_shows_recall() -> None:
    quote = quote_of(MSG)
    assert quote["content"] == "y" * QUOTE_CHARS and quote["recalled"] is False
    gone = quote_of(dataclasses.replace(MSG, status=MessageStatus.RECALLED, content=""))
    assert (gone["content"], gone["recalled"]) == ("", True)


def test_message_json_adds_keys_only_when_they_apply() -> None:
    plain = message_json(MSG)
    assert not {"replyTo", "edited", "editedAt"} & set(plain)
    reply = dataclasses.replace(MSG, extra={"reply": quote_of(MSG)}, edited_at=20)
    shown = message_json(reply)
    assert (shown["replyTo"], shown["edited"], shown["editedAt"]) == (5, True, 20)
    recalled = message_json(dataclasses.replace(reply, status=MessageStatus.RECALLED))
    assert not {"replyTo", "edited", "editedAt"} & set(recalled)
