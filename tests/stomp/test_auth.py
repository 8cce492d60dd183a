"""The STOMP binding's CONNECT credentials (stompim.stomp.auth) over the real accounts
service, on both databases and both key-value stores: every credential form, the first
one present deciding, password logins counted toward the limits, and what the broker's
Authenticator makes of refusals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from stompim.broker.auth import AuthenticationFailed
from stompim.config import Config
from stompim.im.accounts import AccountService
from stompim.im.errors import ImError
from stompim.im.publisher import NullPublisher
from stompim.im.sms import MemorySmsSender
from stompim.stomp.auth import AccountAuthenticator, Password, Token, authenticate, credentials_of
from stompim.store import Database, KeyValue

SECRET = "test-secret-for-stompim-account-tests-012345"
PW = "passw0rd-ok"


def config(**sections: Mapping[str, Any]) -> Config:
    base: dict[str, dict[str, Any]] = {
        "auth": {"bcrypt_rounds": 4, "jwt_secret": SECRET, "login_max_failures": 3}
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return Config().replace(**base)


@pytest.fixture
def accounts(db: Database, kv: KeyValue) -> AccountService:
    return AccountService(config(), db, kv, NullPublisher(), sms_sender=MemorySmsSender())


async def _error(coro: Any) -> ImError:
    with pytest.raises(ImError) as info:
        await coro
    return info.value


def test_credentials_first_present_wins() -> None:
    token = "a.b.c"
    assert credentials_of({"Authorization": "Bearer x", "token": "y"}, "z") == Token("x")
    assert credentials_of({"token": "y", "login": "u", "passcode": "p"}, None) == Token("y")
    assert credentials_of({"login": "u", "passcode": "pw"}, "hs") == Password("u", "pw")
    assert credentials_of({"login": "u"}, "hs") == Token("hs")
    assert credentials_of({}, token) == Token(token)
    with pytest.raises(ImError):
        credentials_of({}, None)


async def test_stomp_accepts_every_credential_form(accounts: AccountService) -> None:
    user = await accounts.register(username="alice", password=PW)
    token = (await accounts.login(username="alice", password=PW)).token
    for headers, handshake in (
        ({"Authorization": f"Bearer {token}"}, None),
        ({"authorization": f"bearer {token}"}, None),
        ({"token": token}, None),
        ({"passcode": token}, None),
        ({"login": "anything", "passcode": token}, None),
        ({}, token),
    ):
        claims = await authenticate(accounts, headers, handshake)
        assert (claims.user_id, claims.username) == (user.id, "alice")
        assert claims.jti
    by_password = await authenticate(accounts, {"login": "alice", "passcode": PW}, None)
    assert (by_password.user_id, by_password.jti) == (user.id, "")


async def test_stomp_refusals(accounts: AccountService) -> None:
    await accounts.register(username="bob", password=PW)
    token = (await accounts.login(username="bob", password=PW)).token
    assert (await _error(authenticate(accounts, {}, None))).code == 1003
    # The first credential present decides: a bad Authorization does not fall through.
    bad = await _error(
        authenticate(accounts, {"Authorization": "Bearer junk", "token": token}, None)
    )
    assert (bad.code, bad.status) == (1003, 401)
    basic = await _error(authenticate(accounts, {"Authorization": "Basic Ym9iOng="}, token))
    assert basic.code == 1003
    wrong = await _error(authenticate(accounts, {"login": "bob", "passcode": "nope-1234"}, None))
    assert (wrong.code, wrong.status) == (1002, 401)
    unknown = await _error(
        authenticate(accounts, {"login": "nobody", "passcode": "x1234567"}, None)
    )
    assert (unknown.code, unknown.message) == (wrong.code, wrong.message)
    await accounts.logout(await accounts.authenticate_token(token))
    assert (await _error(authenticate(accounts, {}, token))).code == 1003
    assert (await _error(authenticate(accounts, {"passcode": token}, None))).code == 1003


async def test_stomp_password_logins_count_toward_limits(accounts: AccountService) -> None:
    await accounts.register(username="carol", password=PW)
    for _ in range(3):
        bad = {"login": "carol", "passcode": "bad-pass1"}
        err = await _error(authenticate(accounts, bad, None))
        assert err.code == 1002
    limited = await _error(authenticate(accounts, {"login": "carol", "passcode": PW}, None))
    assert (limited.code, limited.status) == (9005, 429)


async def test_authenticator_turns_refusals_into_authentication_failed(
    accounts: AccountService,
) -> None:
    user = await accounts.register(username="dave", password=PW)
    authenticator = AccountAuthenticator()
    with pytest.raises(AuthenticationFailed, match="starting"):
        await authenticator.authenticate({"login": "dave", "passcode": PW}, None)
    authenticator.accounts = accounts
    principal = await authenticator.authenticate({"login": "dave", "passcode": PW}, None)
    assert (principal.user_id, principal.username, principal.token_id) == (user.id, "dave", "")
    with pytest.raises(AuthenticationFailed, match="wrong account or password"):
        await authenticator.authenticate({"login": "dave", "passcode": "wrong-pw1"}, None)
