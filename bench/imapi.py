"""The few stompim REST calls the IM scenarios need to set up users, friends and groups.

Every response is the `Result` envelope `{"code", "message", "data"}`; `call()` returns
`data` for code 200 and raises `ApiError` otherwise, or `NotAvailable` when the route
does not exist on this server (HTTP 404/405 without an envelope), so a scenario can
report "not available" instead of failing.

Call order: `async with ImApi(base) as api: user = await api.user("name", "pw")`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

CHUNK = 500  # most user ids one group request may carry


SETUP_RETRIES = 60
"""Tries of one set-up registration+login that the server answers 429 (busy)."""


class NotAvailable(RuntimeError):
    """The server lacks this feature (route missing)."""


class ApiError(RuntimeError):
    def __init__(self, path: str, status: int, code: Any, message: str) -> None:
        super().__init__(f"{path}: HTTP {status} code {code} {message}")
        self.status = status
        self.code = code


@dataclass(frozen=True)
class User:
    id: int
    username: str
    password: str
    token: str


class ImApi:
    def __init__(self, base: str, concurrency: int = 16) -> None:
        self.base = base
        self._session: aiohttp.ClientSession | None = None
        self.sem = asyncio.Semaphore(concurrency)

    async def __aenter__(self) -> ImApi:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, method: str, path: str, token: str | None = None, json: Any = None) -> Any:
        assert self._session is not None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.sem, self._session.request(
            method, self.base + path, json=json, headers=headers
        ) as r:
            try:
                body = await r.json(content_type=None)
            except ValueError:
                body = None
            if not isinstance(body, dict) or "code" not in body:
                if r.status in (404, 405):
                    raise NotAvailable(f"{method} {path} is not served (HTTP {r.status})")
                raise ApiError(path, r.status, None, str(body)[:200])
            if body["code"] != 200:
                raise ApiError(path, r.status, body["code"], str(body.get("message")))
            return body.get("data")

    async def user(self, username: str, password: str) -> User:
        """Register (an existing account is fine) and log in. Set-up only: a 429 from
        the server's bounded password queue is waited out (bounded retries)."""
        for attempt in range(1, SETUP_RETRIES + 1):
            try:
                try:
                    await self.call(
                        "POST",
                        "/api/user/register",
                        json={"username": username, "password": password},
                    )
                except ApiError as exc:
                    if exc.code != 1001:
                        raise
                return await self.login(username, password)
            except ApiError as exc:
                if exc.status != 429 or attempt == SETUP_RETRIES:
                    raise
                await asyncio.sleep(min(0.05 * attempt, 1.0))
        raise AssertionError("unreachable")

    async def login(self, username: str, password: str) -> User:
        data = await self.call(
            "POST", "/api/user/login", json={"username": username, "password": password}
        )
        user = data.get("user") or {}
        uid = user.get("id") or user.get("userId") or data.get("userId")
        return User(int(uid), username, password, data["token"])

    async def befriend(self, a: User, b: User) -> None:
        """a asks b; b asking a back accepts a's pending request."""
        for x, y in ((a, b), (b, a)):
            try:
                await self.call(
                    "POST", "/api/friend/request", x.token, {"toUserId": y.id, "message": "bench"}
                )
            except ApiError as exc:
                if exc.code == 2001:  # already friends
                    return
                if exc.code != 2002:
                    raise
        friends = await self.call("GET", "/api/friend/list", a.token)
        ids = {int(f.get("id") or f.get("userId") or f.get("friendId") or 0) for f in friends or []}
        ids |= {
            int((f.get("user") or {}).get("id") or 0) for f in friends or [] if isinstance(f, dict)
        }
        if b.id not in ids:
            raise ApiError(
                "/api/friend/list", 200, None, f"{a.username} and {b.username} not friends"
            )

    async def create_group(self, owner: User, name: str, members: list[User]) -> int:
        """A group of `owner` + `members`; invited members accept their invitation."""
        ids = [m.id for m in members]
        data = await self.call(
            "POST", "/api/group", owner.token, {"name": name, "memberIds": ids[:CHUNK]}
        )
        gid = int(data.get("id") or data.get("groupId"))
        joined = {int(i) for i in data.get("memberIds") or []}
        for i in range(CHUNK, len(ids), CHUNK):  # a request names at most CHUNK users
            await self.call(
                "POST", f"/api/group/{gid}/invite", owner.token, {"userIds": ids[i : i + CHUNK]}
            )
        invited = set(ids) - joined

        async def accept(m: User) -> None:
            invs = await self.call("GET", "/api/group/invitation", m.token)
            for inv in invs or []:
                if int(inv.get("groupId") or 0) == gid:
                    iid = inv.get("invitationId") or inv.get("id")
                    await self.call("POST", f"/api/group/invitation/{iid}/accept", m.token)

        await asyncio.gather(*(accept(m) for m in members if m.id in invited))
        return gid
