"""A large group on one node (issue 17): M members, K of them online, the rest offline.

Figures: database rows changed per group message, counted by MariaDB itself
(`information_schema.TABLE_STATISTICS`, per table of the bench schema only, so other
users of the server do not disturb it; see bench/mariadb.py), for the large group and
for a 10-member group all online: the large group must cost the same (O(1) writes,
whatever the member count). Also group messages/s, deliveries/s to the online members,
receipt and delivery latency.

Set-up (not measured): the owner and the small group's 9 members register over REST,
and the owner creates both groups over REST (the real path). The large group's other
M - 1 members are then written through the store by bench.bulk (REST registration is
bcrypt-bound: ~M hashes plus M invitation accepts); K - 1 of them log in over REST for
their tokens. Measured: the owner sends with a `receipt` (RECEIPT = stored) to
/app/chat/group, at most 8 in flight; every online member is subscribed to
/topic/chat/<groupId>.

Call order: `await run_group(target, ctx, database=name)` with a node on a throw-away
MariaDB database started with `group_env(members)`.
"""

from __future__ import annotations

import asyncio
import os
import time

from bench import mariadb
from bench.bulk import add_group_members
from bench.imapi import ApiError, ImApi, NotAvailable, User
from bench.load import Flow, Sink, Stalled, publish_windowed, subscribe
from bench.measure import Meter, Progress, log, percentiles
from bench.scenarios.chat import PASSWORD, RUN, chat_frame, not_available, receipt_recorder
from bench.scenarios.generic import Ctx
from bench.targets import Target
from bench.transport import close_all, open_many
from bench.wire import describe_error

BCRYPT_ROUNDS = 4  # the node's cost in this scenario (group_env), so set-up logins are cheap
SMALL = 10
LOGIN_RETRIES = 60  # per set-up login the node answers 429 (its bcrypt queue is full)


def sizes(ctx: Ctx) -> tuple[int, int]:
    """(members, online): the issue's 10,000 and 2,000; quick 1,000 and 200."""
    members = ctx.members or (1000 if ctx.quick else 10_000)
    online = ctx.online or (200 if ctx.quick else 2000)
    return members, min(online, members)


def group_env(members: int) -> tuple[tuple[str, str], ...]:
    """Node settings for this scenario: a group may hold `members`, cheap bcrypt."""
    return (
        ("STOMPIM_IM_MAX_GROUP_SIZE", str(max(members, SMALL))),
        ("STOMPIM_AUTH_BCRYPT_ROUNDS", str(BCRYPT_ROUNDS)),
    )


async def _login(api: ImApi, username: str) -> User:
    """Set-up login over REST; a 429 (bcrypt queue full) is waited out, bounded."""
    for attempt in range(1, LOGIN_RETRIES + 1):
        try:
            return await api.login(username, PASSWORD)
        except ApiError as exc:
            if exc.status != 429 or attempt == LOGIN_RETRIES:
                raise
            await asyncio.sleep(min(0.05 * attempt, 1.0))
    raise AssertionError("unreachable")


async def run_group(target: Target, ctx: Ctx, database: str | None = None) -> dict:
    if target.http is None:
        return not_available(f"{target.name} has no IM groups")
    if database is None:
        return not_available("needs the MariaDB bench database (rows are counted by MariaDB)")
    members, online = sizes(ctx)
    messages = 100 if ctx.quick else 500
    out: dict = {
        "available": True,
        "members": members,
        "online": online,
        "messages": messages,
        "database": "mariadb",
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    setup: dict[str, float | int] = {}
    async with ImApi(target.http, concurrency=24) as api:
        try:
            t = time.perf_counter()
            users = await asyncio.gather(
                *(api.user(f"bg{RUN}s{i}", PASSWORD) for i in range(SMALL))
            )
            owner = users[0]
            small = await api.create_group(owner, f"bench{RUN}small", list(users[1:]))
            big = await api.create_group(owner, f"bench{RUN}big{members}", [])
            setup["rest_register_and_create_s"] = round(time.perf_counter() - t, 2)
            t = time.perf_counter()
            names = [f"bg{RUN}m{i}" for i in range(1, members)]
            await add_group_members(
                mariadb.url_for(database), big, names, PASSWORD, BCRYPT_ROUNDS
            )
            setup["store_bulk_insert_s"] = round(time.perf_counter() - t, 2)
            setup["store_bulk_members"] = len(names)
            t = time.perf_counter()
            prog = Progress(f"log in {online - 1} members over REST", online - 1)

            async def login(name: str) -> User:
                u = await _login(api, name)
                prog.add(1)
                return u

            online_users = [owner, *await asyncio.gather(*(login(n) for n in names[: online - 1]))]
            prog.finish()
            setup["rest_logins"] = online - 1
            setup["rest_login_s"] = round(time.perf_counter() - t, 2)
        except (NotAvailable, ApiError, ConnectionRefusedError) as exc:
            return not_available(f"setup failed: {exc}")
    out["setup"] = setup
    log(f"  group set-up: {setup}")
    for label, gid, group_users, size in (
        ("small_10", small, list(users), SMALL),
        ("large", big, online_users, members),
    ):
        out[label] = await _group_round(target, gid, group_users, size, messages, database)
        if not out[label].get("available", True):
            return out[label]
    s, b = out["small_10"].get("rows_changed_per_msg"), out["large"].get("rows_changed_per_msg")
    if s is not None and b is not None:
        out["o1_db_writes"] = b <= s + 1.0
    out["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


async def _group_round(
    target: Target, gid: int, users: list[User], size: int, messages: int, database: str
) -> dict:
    """`messages` group messages from users[0] (the owner) to a group of `size` members of
    whom `users` are online and subscribed."""
    ep = [target.endpoint("ws").with_auth(Authorization=f"Bearer {u.token}") for u in users]
    prog = Progress(f"connect {len(users)} of {size} members", len(users))
    t0 = time.perf_counter()
    conns = await open_many(ep, len(users), concurrency=50, progress=prog)
    prog.finish()
    connect_s = time.perf_counter() - t0
    try:
        for i, c in enumerate(conns):
            subscribe(c, f"/topic/chat/{gid}", "g", receipt=f"gs{i}")
        t_end = time.monotonic() + 30
        while time.monotonic() < t_end and any(c.receipts == 0 and not c.error for c in conns):
            await asyncio.sleep(0.05)
        refused = [c for c in conns if c.error or c.is_closed]
        if refused:
            err = refused[0].error or b"connection closed"
            return not_available(f"SUBSCRIBE /topic/chat/{gid} refused: {describe_error(err)}")
        sink = Sink(sample_every=1 if len(users) <= 1000 else 10)
        for c in conns:
            c.on_message = sink.on_message
        pub = conns[0]  # the owner
        rlat: list[int] = []
        flow = Flow(8)
        pub.on_receipt = receipt_recorder(rlat, flow)
        make = chat_frame("/app/chat/group", "groupId", gid)
        before = await mariadb.rows_changed(database)
        meter = Meter(target.pid)
        meter.start()
        t0 = time.perf_counter()
        try:
            await publish_windowed(pub, make, flow, messages, time.monotonic() + 120, stall_s=20)
        except Stalled as exc:
            return not_available(f"group send stalled: {exc}")
        t_end = time.monotonic() + 20
        while len(rlat) < messages and time.monotonic() < t_end:
            await asyncio.sleep(0.02)
        await sink.drain(messages * len(users), 15)
        elapsed = time.perf_counter() - t0
        res = meter.stop()
        after = await mariadb.rows_changed(database)
        if not rlat:
            return not_available("no RECEIPT for a SEND to /app/chat/group")
        delta = {t: after.get(t, 0) - before.get(t, 0) for t in after}
        delta = {t: v for t, v in delta.items() if v}
        res.update(
            {
                "members": size,
                "online": len(users),
                "connect_s": round(connect_s, 2),
                "messages": messages,
                "receipts": len(rlat),
                "deliveries": sink.count,
                "expected_deliveries": messages * len(users),
                "group_msgs_per_s": round(len(rlat) / elapsed, 1),
                "deliveries_per_s": round(sink.count / elapsed),
                "receipt_latency": percentiles(rlat),
                "delivery_latency": percentiles(sink.samples),
                "rows_changed_by_table": delta,
                "rows_changed_per_msg": round(sum(delta.values()) / messages, 2),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
        log(
            f"  group {size} members, {len(users)} online: {res['group_msgs_per_s']} msg/s, "
            f"{res['deliveries_per_s']:,} deliveries/s, rows changed/msg "
            f"{res['rows_changed_per_msg']} {delta}"
        )
        return res
    finally:
        close_all(conns)
        await asyncio.sleep(0.5)
