"""AccountService without HTTP: tokens, SMS codes, passwords, rate limits, presence,
disabling — on both databases and both key-value stores. (STOMP CONNECT credentials:
tests/stomp/test_auth.py.)"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest

from stompim.config import Config
from stompim.im import passwords
from stompim.im.accounts import ACTIVE_CACHE_SECONDS, AccountService
from stompim.im.errors import ImError
from stompim.im.presence import presence_key
from stompim.im.sms import MemorySmsSender
from stompim.im.tokens import TokenService, looks_like_jwt
from stompim.store import Database, KeyValue, UserRepository

SECRET = "test-secret-for-stompim-account-tests-012345"
PW = "passw0rd-ok"


@dataclass
class Recorder:
    closed: list[tuple[int, str, str | None]] = field(default_factory=list)

    async def publish(
        self, destination: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        return None

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        self.closed.append((user_id, reason, token_id))

    async def end_subscriptions(self, user_id: int, destination: str, reason: str) -> None:
        return None


def config(**sections: Mapping[str, Any]) -> Config:
    base: dict[str, dict[str, Any]] = {
        "auth": {"bcrypt_rounds": 4, "jwt_secret": SECRET, "login_max_failures": 3}
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return Config().replace(**base)


@pytest.fixture
def sms() -> MemorySmsSender:
    return MemorySmsSender()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def accounts(
    db: Database, kv: KeyValue, sms: MemorySmsSender, recorder: Recorder
) -> AccountService:
    return AccountService(config(), db, kv, recorder, sms_sender=sms)


async def _error(coro: Any) -> ImError:
    with pytest.raises(ImError) as info:
        await coro
    return info.value


# -- tokens ------------------------------------------------------------------------


async def test_token_expiry_uses_exp(kv: KeyValue) -> None:
    now = [time.time()]
    tokens = TokenService(kv, SECRET, 60, clock=lambda: now[0])
    issued = await tokens.issue(7, "dave")
    assert (await tokens.validate(issued.token)).user_id == 7
    assert issued.expires_at_ms == issued.claims.exp * 1000
    expired = TokenService(kv, SECRET, 60, clock=lambda: now[0] - 3600)
    old = await expired.issue(7, "dave")
    err = await _error(tokens.validate(old.token))
    assert (err.code, err.status) == (1003, 401)


async def test_token_refuses_other_algorithms_and_secrets(kv: KeyValue) -> None:
    tokens = TokenService(kv, SECRET, 60)
    issued = await tokens.issue(8, "erin")
    payload = jwt.decode(issued.token, SECRET, algorithms=["HS256"])
    unsigned = jwt.encode(payload, None, algorithm="none")
    assert (await _error(tokens.validate(unsigned))).code == 1003
    hs384 = jwt.encode(payload, SECRET + "-padding-to-be-long-enough-for-hs384", algorithm="HS384")
    assert (await _error(tokens.validate(hs384))).code == 1003
    other = jwt.encode(payload, "x" * 40, algorithm="HS256")
    assert (await _error(tokens.validate(other))).code == 1003
    assert looks_like_jwt(issued.token) and not looks_like_jwt("plain-password1")
    assert not looks_like_jwt("a.b.c")


async def test_revocation_and_registry_pruning(kv: KeyValue) -> None:
    now = [time.time()]
    tokens = TokenService(kv, SECRET, 60, clock=lambda: now[0])
    first = await tokens.issue(9, "frank")
    second = await tokens.issue(9, "frank")
    assert await tokens.revoke_others(9, second.claims.jti) == [first.claims.jti]
    assert (await _error(tokens.validate(first.token))).code == 1003
    assert (await tokens.validate(second.token)).jti == second.claims.jti
    now[0] += 120  # second has expired; the next issue prunes it from the registry
    third = await tokens.issue(9, "frank")
    assert set(await kv.hgetall("tokens:9")) == {third.claims.jti}


# -- registration, SMS -------------------------------------------------------------


async def test_register_requires_sms_when_configured(
    db: Database, kv: KeyValue, sms: MemorySmsSender
) -> None:
    accounts = AccountService(
        config(sms={"require_for_register": True}), db, kv, Recorder(), sms_sender=sms
    )
    err = await _error(accounts.register(username="grace", password=PW, phone="13800000010"))
    assert err.code == 1006
    await accounts.send_sms_code("13800000010", "127.0.0.1")
    user = await accounts.register(
        username="grace", password=PW, phone="13800000010", sms_code=sms.sent["13800000010"]
    )
    assert user.phone == "13800000010"
    # Without a phone no code is needed; a code without a phone is a request error.
    assert (await accounts.register(username="grace2", password=PW)).phone is None
    assert (
        await _error(accounts.register(username="g3", password=PW, sms_code="123456"))
    ).code == 9001


async def test_phone_without_code_accepted_when_not_required(accounts: AccountService) -> None:
    user = await accounts.register(username="heidi", password=PW, phone="+4915100000000")
    assert user.phone == "+4915100000000"


async def test_sms_code_wrong_guesses_destroy_it(
    accounts: AccountService, sms: MemorySmsSender
) -> None:
    await accounts.send_sms_code("13800000011", None)
    code = sms.sent["13800000011"]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert not await accounts.sms.verify("13800000011", wrong)
    assert not await accounts.sms.verify("13800000011", code)  # gone after 5 wrong guesses


async def test_sms_code_single_use_under_concurrency(
    accounts: AccountService, sms: MemorySmsSender
) -> None:
    await accounts.send_sms_code("13800000012", None)
    code = sms.sent["13800000012"]
    results = await asyncio.gather(*(accounts.sms.verify("13800000012", code) for _ in range(5)))
    assert results.count(True) == 1


async def test_concurrent_registration_of_one_name(accounts: AccountService) -> None:
    outcomes = await asyncio.gather(
        *(accounts.register(username="ivan", password=PW) for _ in range(4)), return_exceptions=True
    )
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(o.code == 1001 for o in outcomes if isinstance(o, ImError))


# -- passwords ---------------------------------------------------------------------


async def test_password_hashing_is_off_loop_and_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    active = 0
    most_active = 0
    lock = threading.Lock()

    def recorded(func):  # type: ignore[no-untyped-def]
        def run(*args):  # type: ignore[no-untyped-def]
            nonlocal active, most_active
            with lock:
                active += 1
                most_active = max(most_active, active)
                threads.append(threading.current_thread().name)
            try:
                return func(*args)
            finally:
                with lock:
                    active -= 1

        return run

    monkeypatch.setattr(passwords, "_hash_sync", recorded(passwords._hash_sync))
    monkeypatch.setattr(passwords, "_check_sync", recorded(passwords._check_sync))
    hashed = await passwords.hash_password("abc12345", 4)
    assert await passwords.verify_password("abc12345", hashed, 4)
    assert not await passwords.verify_password("abc12346", hashed, 4)
    assert not await passwords.verify_password("abc12345", None, 4)
    assert not await passwords.verify_password("é" * 40 + "1", hashed, 4)  # > 72 bytes
    assert not await passwords.verify_password("abc12345", "not-a-bcrypt-hash", 4)
    # A storm: never more bcrypt threads than the pool allows, so a core stays free.
    results = await asyncio.gather(
        *(passwords.verify_password("abc12345", hashed, 6) for _ in range(8))
    )
    assert all(results)
    assert len(threads) == 6 + 8
    assert all(name.startswith("bcrypt") for name in threads), threads
    assert threading.current_thread().name not in threads
    assert 1 <= most_active <= passwords.BCRYPT_WORKERS


def test_password_policy() -> None:
    for ok in ("abcdefg1", "Пароль123", "a1" + "x" * 62):  # noqa: RUF001 - Cyrillic on purpose
        assert passwords.check_policy(ok) == ok
    for bad in ("abc1", "abcdefgh", "12345678", "a1" + "x" * 63, "é" * 40 + "1", 12345678):
        with pytest.raises(ImError) as info:
            passwords.check_policy(bad)
        assert info.value.code == 1007


# -- profile, disabling, presence, logout ------------------------------------------


async def test_disable_user_kills_tokens_and_sessions(
    accounts: AccountService, recorder: Recorder
) -> None:
    user = await accounts.register(username="judy", password=PW)
    token = (await accounts.login(username="judy", password=PW)).token
    await accounts.disable_user(user.id)
    assert (await _error(accounts.authenticate_token(token))).code == 1003
    assert (user.id, "account disabled", None) in recorder.closed
    assert (await _error(accounts.get_user(user.id))).code == 1004
    assert (await accounts.search("judy")).records == []


async def test_disabled_elsewhere_refuses_the_token_once_the_cache_expires(
    db: Database, kv: KeyValue, recorder: Recorder
) -> None:
    """`stompim user disable` from another process cannot always reach this node's token
    registry (in-process store): the account read on authentication still ends the
    token, at most ACTIVE_CACHE_SECONDS later."""
    now = [100.0]
    accounts = AccountService(config(), db, kv, recorder, monotonic=lambda: now[0])
    user = await accounts.register(username="nina", password=PW)
    token = (await accounts.login(username="nina", password=PW)).token
    assert (await accounts.authenticate_token(token)).user_id == user.id
    await UserRepository(db).set_status(user.id, 0)  # another process's disable
    assert (await accounts.authenticate_token(token)).user_id == user.id  # trusted a while
    now[0] += ACTIVE_CACHE_SECONDS + 0.01
    error = await _error(accounts.authenticate_token(token))
    assert (error.code, error.status, error.message) == (1003, 401, "account disabled")
    # Enabling again does not bring the token back: the disable moved the credential
    # generation on; a new login works.
    await UserRepository(db).set_status(user.id, 1)
    now[0] += ACTIVE_CACHE_SECONDS + 0.01
    error = await _error(accounts.authenticate_token(token))
    assert (error.code, error.message) == (1003, "token revoked")
    fresh = (await accounts.login(username="nina", password=PW)).token
    assert (await accounts.authenticate_token(fresh)).user_id == user.id


async def test_logout_closes_sessions_of_that_token(
    accounts: AccountService, recorder: Recorder
) -> None:
    user = await accounts.register(username="kate", password=PW)
    claims = await accounts.authenticate_token(
        (await accounts.login(username="kate", password=PW)).token
    )
    await accounts.logout(claims)
    assert recorder.closed == [(user.id, "token revoked", claims.jti)]


async def test_logout_survives_a_failing_publisher(db: Database, kv: KeyValue, caplog) -> None:
    class Broken(Recorder):
        async def close_user_sessions(
            self, user_id: int, reason: str, token_id: str | None = None
        ) -> None:
            raise ConnectionError("broker down")

    accounts = AccountService(config(), db, kv, Broken())
    await accounts.register(username="leo", password=PW)
    token = (await accounts.login(username="leo", password=PW)).token
    with caplog.at_level("ERROR", logger="stompim.im.accounts"):
        await accounts.logout(await accounts.authenticate_token(token))
    assert (await _error(accounts.authenticate_token(token))).code == 1003
    assert any("broker down" in (r.exc_text or "") for r in caplog.records)


async def test_presence_reads_kv_keys(accounts: AccountService, kv: KeyValue) -> None:
    await kv.set(presence_key(41), "node-a", ttl=30)
    assert await accounts.online_status([41, 42, 41]) == {41: True, 42: False}
    assert (await _error(accounts.online_status(range(1, 300)))).code == 9001


async def test_update_profile_unknown_field_and_noop(accounts: AccountService) -> None:
    user = await accounts.register(username="mike", password=PW)
    assert (await _error(accounts.update_profile(user.id, {"passwordHash": "x"}))).code == 9001
    assert (await accounts.update_profile(user.id, {})).nickname == "mike"
    assert (await _error(accounts.update_profile(10**12, {"nickname": "x"}))).code == 1004


async def test_a_password_storm_past_the_wait_bound_gets_429() -> None:
    hashed = await passwords.hash_password("abc12345", 8)
    outcomes = await asyncio.gather(
        *(passwords.verify_password("abc12345", hashed, 8, max_wait=0.0) for _ in range(6)),
        return_exceptions=True,
    )
    # the first finds the queue empty; every later one would have to wait: refused at once
    assert outcomes[0] is True
    refused = outcomes[1:]
    assert all(isinstance(o, ImError) and (o.code, o.status) == (9005, 429) for o in refused)
    assert passwords.expected_wait() == 0  # the bound frees up again
    assert await passwords.verify_password("abc12345", hashed, 4, max_wait=0.0)


async def test_200_simultaneous_logins_at_cost_4_all_pass_the_wait_bound() -> None:
    """Bounded by time, not by a count: cheap hashes never hit the bound."""
    hashed = await passwords.hash_password("abc12345", 4)
    outcomes = await asyncio.gather(
        *(passwords.verify_password("abc12345", hashed, 4) for _ in range(200)),
        return_exceptions=True,
    )
    assert outcomes == [True] * 200
