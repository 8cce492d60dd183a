"""Signed links: HMAC over id, variant and expiry; tampering and expiry refused."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from stompim.im.errors import LINK_INVALID, ImError
from stompim.im.media_links import ORIGINAL, THUMBNAIL, MediaLinks, derive_key

SECRET = "a-node-secret-of-at-least-32-characters!"


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_link_round_trip_and_shape() -> None:
    links = MediaLinks(SECRET, 3600, "http://node.example:8080/api/file")
    link = links.link(42, ORIGINAL, now_s=1_000_000)
    assert link.url.startswith("http://node.example:8080/api/file/42?exp=")
    assert link.expires_at is not None and 1_000_000 + 3600 <= link.expires_at <= 1_000_000 + 4500
    assert links.verify(42, ORIGINAL, _query(link.url), now_s=1_000_000) == link.expires_at
    thumb = links.link(42, THUMBNAIL, now_s=1_000_000)
    assert "/api/file/42/thumbnail?" in thumb.url


def test_links_of_one_window_are_identical_for_caching() -> None:
    links = MediaLinks(SECRET, 3600)
    assert links.link(7, ORIGINAL, 1_000_000).url == links.link(7, ORIGINAL, 1_000_100).url


@pytest.mark.parametrize(
    "tamper",
    [
        lambda q: {**q, "sig": q["sig"][:-1] + ("A" if q["sig"][-1] != "A" else "B")},
        lambda q: {**q, "exp": str(int(q["exp"]) + 1)},
        lambda q: {k: v for k, v in q.items() if k != "exp"},  # a chat link made lasting
        lambda q: {k: v for k, v in q.items() if k != "sig"},
        lambda q: {**q, "exp": "1e9"},
        lambda q: {**q, "exp": "9" * 30},
    ],
)
def test_tampered_links_are_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    links = MediaLinks(SECRET, 3600)
    query = _query(links.link(42, ORIGINAL, 1_000_000).url)
    with pytest.raises(ImError) as refused:
        links.verify(42, ORIGINAL, tamper(query), 1_000_000)
    assert refused.value.code == LINK_INVALID and refused.value.status == 403


def test_a_link_names_one_file_and_one_variant() -> None:
    links = MediaLinks(SECRET, 3600)
    query = _query(links.link(42, ORIGINAL, 1_000_000).url)
    for file_id, variant in ((43, ORIGINAL), (42, THUMBNAIL), (42, "other")):
        with pytest.raises(ImError):
            links.verify(file_id, variant, query, 1_000_000)


def test_expired_link_is_refused() -> None:
    links = MediaLinks(SECRET, 60)
    link = links.link(1, ORIGINAL, 1_000_000)
    assert link.expires_at is not None
    with pytest.raises(ImError, match="expired"):
        links.verify(1, ORIGINAL, _query(link.url), link.expires_at)


def test_another_secret_signs_differently() -> None:
    query = _query(MediaLinks(SECRET, 3600).link(1, ORIGINAL, 1_000_000).url)
    with pytest.raises(ImError):
        MediaLinks(SECRET + "x", 3600).verify(1, ORIGINAL, query, 1_000_000)
    assert derive_key(SECRET) != SECRET.encode()


def test_lasting_links_verify_without_expiry() -> None:
    links = MediaLinks(SECRET, 3600)
    lasting = links.lasting_link(5, ORIGINAL)
    assert "exp=" not in lasting.url and lasting.expires_at is None
    assert links.verify(5, ORIGINAL, _query(lasting.url), 10**12) is None
