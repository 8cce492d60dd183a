"""UserRepository on both backends: create, lookups, duplicates (also racing), profile
updates, exact search, and values full of SQL metacharacters stored verbatim."""

from __future__ import annotations

import asyncio

import pytest

from stompim.errors import DuplicateKey, NotFoundInStore
from stompim.store import Database, UserRecord, UserRepository


async def _make(repo: UserRepository, name: str, phone: str | None = None) -> UserRecord:
    return await repo.create(
        username=name, password_hash="$2b$hash", nickname=f"nick-{name}", phone=phone
    )


async def test_create_and_get(db: Database) -> None:
    repo = UserRepository(db)
    user = await repo.create(
        username="alice", password_hash="h1", nickname="Alice", phone="13800000000"
    )
    assert user.id > 0
    assert (user.username, user.password_hash, user.nickname, user.phone) == (
        "alice",
        "h1",
        "Alice",
        "13800000000",
    )
    assert (user.avatar, user.signature, user.gender, user.email, user.region) == (
        "",
        "",
        0,
        "",
        "",
    )
    assert user.status == 1
    assert user.created_at == user.updated_at > 1_600_000_000_000
    assert await repo.get(user.id) == user
    assert await repo.by_username("alice") == user
    assert await repo.by_phone("13800000000") == user
    assert await repo.get(user.id + 1000) is None
    assert await repo.by_username("nobody") is None
    assert await repo.by_phone("1") is None


async def test_phone_optional_and_empty_phone_is_null(db: Database) -> None:
    repo = UserRepository(db)
    a = await _make(repo, "a")
    b = await repo.create(username="b", password_hash="h", nickname="b", phone="")
    assert a.phone is None and b.phone is None  # two users without phone do not collide
    assert await repo.by_phone("") is None


async def test_get_many(db: Database) -> None:
    repo = UserRepository(db)
    users = [await _make(repo, f"u{i}") for i in range(5)]
    got = await repo.get_many([users[0].id, users[3].id, users[3].id, 10**12])
    assert got == {users[0].id: users[0], users[3].id: users[3]}
    assert await repo.get_many([]) == {}


async def test_duplicate_username_and_phone(db: Database) -> None:
    repo = UserRepository(db)
    await _make(repo, "carol", phone="111")
    with pytest.raises(DuplicateKey) as e1:
        await _make(repo, "carol", phone="222")
    assert e1.value.key == "username"
    with pytest.raises(DuplicateKey) as e2:
        await _make(repo, "carol2", phone="111")
    assert e2.value.key == "phone"
    assert await repo.by_username("carol2") is None


async def test_usernames_compare_exactly(db: Database) -> None:
    repo = UserRepository(db)
    upper = await _make(repo, "Alice")
    lower = await _make(repo, "alice")  # case matters on both backends
    assert upper.id != lower.id
    assert (await repo.by_username("ALICE")) is None
    e1 = await _make(repo, "x😀")
    e2 = await _make(repo, "x😁")  # distinct emoji are distinct names (binary collation)
    assert e1.id != e2.id


async def test_concurrent_creates_of_one_username(db: Database) -> None:
    repo = UserRepository(db)
    results = await asyncio.gather(
        *(_make(repo, "racer", phone=f"9{i}") for i in range(10)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, UserRecord)]
    losers = [r for r in results if not isinstance(r, UserRecord)]
    assert len(winners) == 1
    assert len(losers) == 9
    assert all(isinstance(r, DuplicateKey) and r.key == "username" for r in losers)
    assert await db.fetch_val("SELECT COUNT(*) FROM users WHERE username = ?", ["racer"]) == 1


async def test_update_profile_allowed_fields_only(db: Database) -> None:
    repo = UserRepository(db)
    user = await _make(repo, "dave")
    changed = await repo.update_profile(
        user.id,
        {
            "nickname": "D",
            "avatar": "http://x/a.png",
            "signature": "hi",
            "gender": 2,
            "email": "d@example.com",
            "region": "Mars",
        },
    )
    assert (
        changed.nickname,
        changed.avatar,
        changed.signature,
        changed.gender,
        changed.email,
        changed.region,
    ) == ("D", "http://x/a.png", "hi", 2, "d@example.com", "Mars")
    assert changed.updated_at >= user.updated_at
    assert await repo.get(user.id) == changed
    for forbidden in (
        {"username": "x"},
        {"password_hash": "x"},
        {"status": 0},
        {"id": 5},
        {"phone": "1"},
        {"nickname": "ok", "created_at": 1},
    ):
        with pytest.raises(ValueError):
            await repo.update_profile(user.id, forbidden)
    assert await repo.get(user.id) == changed  # a refused call changed nothing
    with pytest.raises(ValueError):
        await repo.update_profile(user.id, {"gender": "2"})
    assert await repo.update_profile(user.id, {}) == changed
    with pytest.raises(NotFoundInStore):
        await repo.update_profile(user.id + 999, {"nickname": "x"})


async def test_same_value_update_is_not_not_found(db: Database) -> None:
    # MySQL would report 0 changed rows; the backend counts matched rows instead
    repo = UserRepository(db)
    user = await _make(repo, "erin")
    await repo.set_password(user.id, user.password_hash)
    await repo.update_profile(user.id, {"nickname": user.nickname})


async def test_set_password_and_status(db: Database) -> None:
    repo = UserRepository(db)
    user = await _make(repo, "frank")
    await repo.set_password(user.id, "$2b$new")
    assert (await repo.get(user.id)).password_hash == "$2b$new"  # type: ignore[union-attr]
    await repo.set_status(user.id, 0)
    assert (await repo.get(user.id)).status == 0  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        await repo.set_status(user.id, 7)
    with pytest.raises(NotFoundInStore):
        await repo.set_password(user.id + 999, "x")
    with pytest.raises(NotFoundInStore):
        await repo.set_status(user.id + 999, 1)


async def test_search_exact_username_or_phone_active_only(db: Database) -> None:
    repo = UserRepository(db)
    grace = await _make(repo, "grace", phone="555")
    await _make(repo, "gracey")
    hidden = await _make(repo, "heidi", phone="777")
    await repo.set_status(hidden.id, 0)
    assert [u.id for u in await repo.search("grace")] == [grace.id]
    assert [u.id for u in await repo.search("555")] == [grace.id]
    assert [u.id for u in await repo.search("  grace ")] == [grace.id]
    assert await repo.search("grac") == []
    assert await repo.search("gr%") == []
    assert await repo.search("grac_") == []
    assert await repo.search("heidi") == []
    assert await repo.search("777") == []
    assert await repo.search("") == []
    assert await repo.search("grace", limit=0) == []


TRICKY = [
    "o'brien",
    'say "hi"',
    "100%",
    "a_b",
    "x; DROP TABLE users;--",
    "back\\slash\\",
    "\\'",
    "?",
    "%s",
    "中文名字",
    "emoji 😀👍🏽",
    "tab\tnew\nline",
]


@pytest.mark.parametrize("value", TRICKY)
async def test_metacharacters_round_trip(db: Database, value: str) -> None:
    repo = UserRepository(db)
    name = value[:32]
    user = await repo.create(username=name, password_hash=value, nickname=value, phone=None)
    updated = await repo.update_profile(user.id, {"signature": value, "region": value[:64]})
    again = await repo.by_username(name)
    assert again == updated
    assert (again.username, again.password_hash, again.nickname, again.signature) == (
        name,
        value,
        value,
        value,
    )  # type: ignore[union-attr]
    assert [u.id for u in await repo.search(name.strip())] == (
        [user.id] if name == name.strip() else []
    )
    assert await db.fetch_val("SELECT COUNT(*) FROM users") == 1  # nothing injected
