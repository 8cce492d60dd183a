"""Credentials that really end (issue 10) and sessions per device (issue 15), in the
domain, on both databases and both key-value stores: the token registry's exact-token
check, credential generations, refresh, single-session modes, session listing and
ending, and the login and registration limits per source.

(The same over real nodes and sockets: tests/cluster/test_credentials_two_nodes.py,
tests/stomp/test_login_limits.py.)"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest

from stompim.config import Config
from stompim.im.accounts import PASSWORD_SESSIONS, AccountService
from stompim.im.errors import ImError
from stompim.im.sms import MemorySmsSender
from stompim.store import Database, KeyValue, UserRepository

SECRET = "test-secret-for-stompim-credential-tests-0123"
PW = "passw0rd-ok"


@dataclass
class Recorder:
    """The accounts' Publisher, remembering which sessions it was told to close."""

    closed: list[tuple[int, str, str | None]] = field(default_factory=list)

    async def close_user_sessions(
        self, user_id: int, reason: str, token_id: str | None = None
    ) -> None:
        self.closed.append((user_id, reason, token_id))


def config(**auth: Any) -> Config:
    values: dict[str, Any] = {"bcrypt_rounds": 4, "jwt_secret": SECRET,
                              "login_max_failures": 3, "login_max_failures_per_ip": 8,
                              "login_max_failures_per_account": 6,
                              "register_max_per_ip": 4}
    values.update(auth)
    return Config().replace(auth=values)


def service(db: Database, kv: KeyValue, recorder: Recorder, **auth: Any) -> AccountService:
    return AccountService(config(**auth), db, kv, recorder,  # type: ignore[arg-type]
                          sms_sender=MemorySmsSender())


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def accounts(db: Database, kv: KeyValue, recorder: Recorder) -> AccountService:
    return service(db, kv, recorder)


async def _error(coro: Any) -> ImError:
    with pytest.raises(ImError) as info:
        await coro
    return info.value


async def _login(accounts: AccountService, name: str, device: str | None = None,
                 ip: str | None = "10.0.0.1") -> str:
    return (await accounts.login(username=name, password=PW, device_type=device, ip=ip)).token


# -- the registry names the exact token ----------------------------------------------


async def test_a_token_re_signed_with_a_longer_exp_is_refused(accounts: AccountService) -> None:
    await accounts.register(username="alice", password=PW)
    token = await _login(accounts, "alice")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    longer = jwt.encode({**claims, "exp": claims["exp"] + 365 * 86400}, SECRET, "HS256")
    error = await _error(accounts.authenticate_token(longer))
    assert (error.code, error.status) == (1003, 401)
    # same jti and sid, older generation claimed higher: the registry's generation counts
    other_gen = jwt.encode({**claims, "gen": claims["gen"] + 5}, SECRET, "HS256")
    assert (await accounts.authenticate_token(other_gen)).gen == 0
    assert (await accounts.authenticate_token(token)).username == "alice"


async def test_a_token_of_a_deleted_account_is_refused(
    db: Database, kv: KeyValue, recorder: Recorder
) -> None:
    now = [0.0]
    accounts = AccountService(config(), db, kv, recorder,  # type: ignore[arg-type]
                              monotonic=lambda: now[0])
    user = await accounts.register(username="bob", password=PW)
    token = await _login(accounts, "bob")
    assert (await accounts.authenticate_token(token)).user_id == user.id
    await db.execute("DELETE FROM users WHERE id = ?", (user.id,))
    now[0] += 3  # past ACTIVE_CACHE_SECONDS
    error = await _error(accounts.authenticate_token(token))
    assert (error.code, error.message) == (1003, "account disabled")


# -- generations ---------------------------------------------------------------------


async def test_password_change_moves_the_generation_and_closes_password_sessions(
    accounts: AccountService, recorder: Recorder, db: Database
) -> None:
    user = await accounts.register(username="carol", password=PW)
    mine = await accounts.authenticate_token(await _login(accounts, "carol"))
    other_token = await _login(accounts, "carol", "ios")
    other = await accounts.authenticate_token(other_token)
    await accounts.change_password(mine, PW, "new-passw0rd")
    assert await UserRepository(db).generation(user.id) == 1
    assert recorder.closed == [
        (user.id, "password changed", other.sid),
        (user.id, "password changed", ""),   # every login+password STOMP session
    ]
    assert (await _error(accounts.authenticate_token(other_token))).code == 1003
    # the caller's token session lives on, re-stamped with the new generation
    [entry] = await accounts.list_sessions(user.id)
    assert (entry.sid, entry.gen) == (mine.sid, 1)
    fresh = await accounts.login(username="carol", password="new-passw0rd")
    assert (await accounts.authenticate_token(fresh.token)).gen == 1


async def test_revocation_ends_every_token_and_keeps_the_password(
    accounts: AccountService, recorder: Recorder
) -> None:
    user = await accounts.register(username="dave", password=PW)
    tokens = [await _login(accounts, "dave", d) for d in ("web", "ios")]
    assert await accounts.revoke_credentials(user.id) == 2
    for token in tokens:
        assert (await _error(accounts.authenticate_token(token))).code == 1003
    assert recorder.closed == [(user.id, "sessions revoked", None)]
    assert await _login(accounts, "dave")


# -- sessions per device -------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "survivors"),
    [("off", {"web1", "ios", "web2"}), ("per_device_type", {"ios", "web2"}), ("one", {"web2"})],
)
async def test_single_session_modes(
    db: Database, kv: KeyValue, recorder: Recorder, mode: str, survivors: set[str]
) -> None:
    accounts = service(db, kv, recorder, single_session=mode)
    user = await accounts.register(username="erin", password=PW)
    tokens = {"web1": await _login(accounts, "erin", "web"),
              "ios": await _login(accounts, "erin", "ios"),
              "web2": await _login(accounts, "erin")}   # no deviceType: web
    alive = set()
    for name, token in tokens.items():
        try:
            await accounts.authenticate_token(token)
            alive.add(name)
        except ImError as exc:
            assert exc.code == 1003
    assert alive == survivors
    ended = {c[2] for c in recorder.closed}
    assert all(reason == "logged in elsewhere" for _, reason, _ in recorder.closed)
    sids = {n: accounts.tokens.decode(t).sid for n, t in tokens.items()}
    # login+passcode STOMP sessions (no token; web) end with web logins, or any under "one"
    password = {PASSWORD_SESSIONS} if mode != "off" else set()
    assert ended == {sids[n] for n in tokens if n not in survivors} | password
    listed = await accounts.list_sessions(user.id)
    assert {e.sid for e in listed} == {sids[n] for n in survivors}


async def test_unknown_device_type_is_refused(accounts: AccountService) -> None:
    await accounts.register(username="fay", password=PW)
    error = await _error(accounts.login(username="fay", password=PW, device_type="toaster"))
    assert (error.code, error.status) == (9001, 400) and "deviceType" in error.message


async def test_refresh_revokes_the_old_token_and_keeps_the_session(
    accounts: AccountService, recorder: Recorder
) -> None:
    user = await accounts.register(username="gina", password=PW)
    old = await _login(accounts, "gina", "android")
    claims = await accounts.authenticate_token(old)
    issued = await accounts.refresh_token(claims)
    assert issued.token != old and issued.claims.sid == claims.sid
    assert issued.claims.jti != claims.jti and issued.claims.exp >= claims.exp
    assert (await _error(accounts.authenticate_token(old))).code == 1003
    fresh = await accounts.authenticate_token(issued.token)
    assert (fresh.sid, fresh.device) == (claims.sid, "android")
    # refreshing with the old token again is refused; no session was closed
    assert (await _error(accounts.refresh_token(claims))).code == 1003
    assert recorder.closed == []
    [entry] = await accounts.list_sessions(user.id)
    assert (entry.sid, entry.device, entry.ip) == (claims.sid, "android", "10.0.0.1")
    assert entry.last_used_ms > 0 and entry.created <= time.time()


async def test_list_and_end_sessions(accounts: AccountService, recorder: Recorder) -> None:
    user = await accounts.register(username="hank", password=PW)
    web = await accounts.authenticate_token(await _login(accounts, "hank", "web"))
    desk_token = await _login(accounts, "hank", "desktop", ip="10.0.0.9")
    desk = accounts.tokens.decode(desk_token)
    listed = await accounts.list_sessions(user.id)
    assert sorted(e.sid for e in listed) == sorted([web.sid, desk.sid])
    assert listed[0].created >= listed[1].created   # newest first
    assert {(e.device, e.ip) for e in listed} == {("web", "10.0.0.1"), ("desktop", "10.0.0.9")}
    await accounts.end_session(user.id, desk.sid)
    assert recorder.closed == [(user.id, "session ended", desk.sid)]
    assert (await _error(accounts.authenticate_token(desk_token))).code == 1003
    error = await _error(accounts.end_session(user.id, desk.sid))
    assert (error.code, error.status) == (1009, 404)
    # another user's session id is not mine to end
    other = await accounts.register(username="ivan", password=PW)
    error = await _error(accounts.end_session(other.id, web.sid))
    assert error.code == 1009
    assert (await accounts.authenticate_token(await _login(accounts, "hank"))).user_id == user.id


# -- login and registration limits ----------------------------------------------------


async def test_a_lockout_is_per_account_and_source(accounts: AccountService) -> None:
    await accounts.register(username="judy", password=PW)
    attacker, owner = "10.6.6.6", "10.1.1.1"
    for _ in range(3):
        error = await _error(accounts.login(username="judy", password="wrong-1x", ip=attacker))
        assert error.code == 1002
    locked = await _error(accounts.login(username="judy", password=PW, ip=attacker))
    assert (locked.code, locked.status) == (9005, 429)
    assert await _login(accounts, "judy", ip=owner)  # the owner is not locked out


async def test_the_global_account_limit_stops_spread_out_guessing(
    accounts: AccountService,
) -> None:
    await accounts.register(username="kim", password=PW)
    for n in range(3):  # login_max_failures_per_account = 6: two tries from each address
        for _ in range(2):
            error = await _error(accounts.login(username="kim", password="wrong-1x",
                                                ip=f"10.9.0.{n}"))
            assert error.code == 1002
    locked = await _error(accounts.login(username="kim", password="wrong-1x", ip="10.9.1.1"))
    assert (locked.code, locked.status) == (9005, 429)
    locked = await _error(accounts.login(username="kim", password=PW, ip="10.9.1.2"))
    assert locked.code == 9005


async def test_the_address_limit_counts_every_account(accounts: AccountService) -> None:
    for n in range(8):  # login_max_failures_per_ip = 8
        error = await _error(accounts.login(username=f"ghost{n}", password="x1x1x1x1",
                                            ip="10.7.7.7"))
        assert error.code == 1002
    await accounts.register(username="leo", password=PW)
    error = await _error(accounts.login(username="leo", password=PW, ip="10.7.7.7"))
    assert error.code == 9005
    assert await _login(accounts, "leo", ip="10.7.7.8")


async def test_registrations_are_limited_per_address(accounts: AccountService) -> None:
    for n in range(4):  # register_max_per_ip = 4, failed attempts count too
        if n == 1:
            assert (await _error(accounts.register(username="x", password=PW,
                                                   ip="10.2.2.2"))).code != 9005
            continue
        await accounts.register(username=f"user{n}", password=PW, ip="10.2.2.2")
    error = await _error(accounts.register(username="user9", password=PW, ip="10.2.2.2"))
    assert (error.code, error.status) == (9005, 429)
    assert (await accounts.register(username="user9", password=PW, ip="10.2.2.3")).id


async def test_sms_codes_are_limited_per_address(db: Database, kv: KeyValue) -> None:
    cfg = config().replace(sms={"max_per_ip_per_hour": 2})
    accounts = AccountService(cfg, db, kv, Recorder(),  # type: ignore[arg-type]
                              sms_sender=MemorySmsSender())
    for n in range(2):
        assert await accounts.send_sms_code(f"1380000000{n}", "10.3.3.3") > 0
    error = await _error(accounts.send_sms_code("13800000009", "10.3.3.3"))
    assert error.code == 9005


async def test_a_token_from_before_sessions_still_works_and_counts_as_web(
    db: Database, kv: KeyValue, recorder: Recorder
) -> None:
    """Registry value a bare expiry, no sid/gen claims: accepted (generation 0), listed
    as a web session, and ended by a new web login under per_device_type."""
    accounts = service(db, kv, recorder, single_session="per_device_type")
    user = await accounts.register(username="olga", password=PW)
    now = int(time.time())
    legacy = jwt.encode({"userId": user.id, "username": "olga", "jti": "a" * 32,
                         "iat": now, "exp": now + 600}, SECRET, "HS256")
    await kv.hset(f"tokens:{user.id}", "a" * 32, str(now + 600))
    claims = await accounts.authenticate_token(legacy)
    assert (claims.sid, claims.gen, claims.device) == ("a" * 32, 0, "web")
    [entry] = await accounts.list_sessions(user.id)
    assert entry.device == "web"
    await _login(accounts, "olga", "web")
    assert (await _error(accounts.authenticate_token(legacy))).code == 1003
    assert recorder.closed == [(user.id, "logged in elsewhere", "a" * 32),
                               (user.id, "logged in elsewhere", PASSWORD_SESSIONS)]
