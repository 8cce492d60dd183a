"""Chat drafts that name a file: where `fileId` may stand and which values it takes."""

from __future__ import annotations

import pytest

from stompim.im.errors import ImError
from stompim.im.messages import parse_draft, target_from


def _draft(body: dict[str, object]):  # type: ignore[no-untyped-def]
    return parse_draft(body, max_length=100)


def test_file_id_in_the_body_or_in_extra() -> None:
    assert _draft({"type": "image", "fileId": 7}).file_id == 7
    assert _draft({"type": "file", "fileId": "8"}).file_id == 8  # numeric strings, as Jackson
    assert _draft({"type": "audio", "extra": {"fileId": 9, "duration": 3}}).file_id == 9
    assert _draft({"type": "image", "extra": {"url": "https://cdn.example/a.png"}}).file_id is None


@pytest.mark.parametrize(
    "body",
    [
        {"type": "text", "content": "hi", "fileId": 7},  # only media messages carry files
        {"type": "image", "fileId": 0},
        {"type": "image", "fileId": -1},
        {"type": "image", "fileId": True},
        {"type": "image", "fileId": 1.5},
        {"type": "image", "fileId": "7a"},
        {"type": "image", "fileId": "9" * 30},
        {"type": "image", "fileId": 2**63},  # past BIGINT: would fail a whole batch's query
        {"type": "image"},  # a media message needs a file, content or a URL
    ],
)
def test_bad_file_ids_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ImError) as refused:
        _draft(body)
    assert refused.value.code == 9001


def test_targets_stay_within_bigint() -> None:
    assert target_from({"toUserId": 2**63 - 1}, "toUserId") == 2**63 - 1
    with pytest.raises(ImError):
        target_from({"toUserId": 2**63}, "toUserId")
