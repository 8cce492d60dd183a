"""IM scenarios on stompim: persisted private chat (MariaDB or SQLite, see
bench/scenarios/chat_db.py) and a login storm during chat (MariaDB); the large group is
bench/scenarios/group.py, built on the helpers here.

They use only the documented contract: REST /api/user/register + /api/user/login for
tokens, /api/friend/request both ways to befriend, /api/group + invitations for a
group; STOMP SEND to /app/chat/private ({toUserId, type, content}) or /app/chat/group
({groupId, ...}) with a `receipt` header — a RECEIPT means "stored". The receipt id
is the send time in ns, so receipt latency needs no lookup table. When the server
lacks a piece (route 404, ERROR frame, no receipt) the scenario returns
`{"available": false, "reason": ...}` instead of failing.

Call order: `ChatRig.create(target, api, pairs)` -> `rig.probe()` -> load phases ->
`rig.close()`.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

from bench.imapi import ApiError, ImApi, NotAvailable, User
from bench.load import (
    Flow,
    Overloaded,
    Sink,
    Stalled,
    publish_paced,
    publish_windowed,
    send_frame_factory,
    subscribe,
)
from bench.measure import Meter, Progress, log, percentiles
from bench.scenarios.generic import Ctx
from bench.targets import Target
from bench.transport import close_all, open_many
from bench.wire import StompConn, describe_error

PASSWORD = "Bench-pass-123"
CHAT_RATES = (2000, 5000)  # receipt latency is measured at these fixed rates
RUN = f"{os.getpid() % 100000}"
_perf_ns = time.perf_counter_ns


def not_available(reason: str) -> dict:
    log(f"  not available: {reason}")
    return {"available": False, "reason": reason}


def receipt_recorder(samples: list[int], flow: Flow | None):
    def on_receipt(rid: bytes) -> None:
        now = _perf_ns()
        try:
            samples.append(now - int(rid))
        except ValueError:
            return
        if flow is not None:
            flow.on_done()
    return on_receipt


def chat_frame(destination: str, key: str, target_id: int, pad: int = 40):
    """A callable building a chat SEND whose receipt id and content carry the send time."""
    head = f"SEND\ndestination:{destination}\ncontent-type:application/json\nreceipt:".encode()
    pre = b'\n\n{"%s":%d,"type":"text","content":"@@' % (key.encode(), target_id)
    tail = b"x" * pad + b'"}\x00'

    def make(*_: object) -> bytes:
        ns = b"%019d" % _perf_ns()
        return head + ns + pre + ns + tail

    return make


@dataclass
class ChatRig:
    """Pairs of friends, senders and receivers connected and subscribed."""

    target: Target
    senders: list[User]
    receivers: list[User]
    s_conns: list[StompConn] = field(default_factory=list)
    r_conns: list[StompConn] = field(default_factory=list)
    errors: list[bytes] = field(default_factory=list)

    @classmethod
    async def create(cls, target: Target, api: ImApi, pairs: int, tag: str) -> ChatRig:
        users = await asyncio.gather(*(
            api.user(f"b{tag}{RUN}{role}{i}", PASSWORD) for i in range(pairs) for role in "sr"))
        senders, receivers = list(users[0::2]), list(users[1::2])
        await asyncio.gather(
            *(api.befriend(s, r) for s, r in zip(senders, receivers, strict=False))
        )
        rig = cls(target, senders, receivers)
        rig.s_conns = await open_many([rig.ep(u) for u in senders], len(senders))
        rig.r_conns = await open_many([rig.ep(u) for u in receivers], len(receivers))
        for i, c in enumerate(rig.r_conns):
            subscribe(c, "/user/queue/chat", "chat", receipt=f"sub{i}")
        for i, c in enumerate(rig.s_conns):
            subscribe(c, "/user/queue/errors", "err", receipt=f"sub{i}")
            c.on_message = rig.errors.append
        await asyncio.sleep(0.5)
        return rig

    def ep(self, user: User):
        return self.target.endpoint("ws").with_auth(Authorization=f"Bearer {user.token}")

    def makers(self) -> list:
        return [chat_frame("/app/chat/private", "toUserId", r.id) for r in self.receivers]

    async def probe(self) -> str | None:
        """None if one private message is stored (receipt) and delivered; else why not."""
        got: list[int] = []
        sink = Sink()
        self.r_conns[0].on_message = sink.on_message
        self.s_conns[0].on_receipt = receipt_recorder(got, None)
        self.s_conns[0].send(self.makers()[0]())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (got and sink.count):
            if self.s_conns[0].error:
                return "ERROR frame: " + describe_error(self.s_conns[0].error)
            if self.errors:
                return "refused: " + self.errors[0].partition(b"\n\n")[2][:200].decode(
                    errors="replace"
                )
            await asyncio.sleep(0.05)
        if not got:
            return "no RECEIPT for a SEND to /app/chat/private within 10 s"
        if not sink.count:
            return "stored (receipt) but not delivered to /user/queue/chat within 10 s"
        return None

    async def paced(
        self, rate: int, duration: float, label: str, db_pid: int | None = None
    ) -> dict:
        """Chat at a fixed total rate spread over the senders; receipt + delivery latency."""
        rlat: list[int] = []
        sink = Sink()
        for c in self.r_conns:
            c.on_message = sink.on_message
        for c in self.s_conns:
            c.on_receipt = receipt_recorder(rlat, None)
        makers = self.makers()
        n = len(self.s_conns)

        def make(i: int) -> bytes:
            return makers[i % n]()

        meter = Meter(self.target.pid, db_pid)
        meter.start()
        prog = Progress(label, int(rate * duration))
        overloaded = None
        try:
            sent = await publish_paced(
                self.s_conns,
                make,
                rate,
                duration,
                prog,
                acked=lambda: len(rlat),
                max_backlog=2 * rate,
            )
        except Overloaded as exc:
            sent, overloaded = exc.sent, str(exc)
        await sink.drain(sent, 10, max_s=30)
        t_end = time.monotonic() + (30 if overloaded else 10)  # let a backlog drain
        while len(rlat) < sent and time.monotonic() < t_end:
            await asyncio.sleep(0.05)
        res = meter.stop()
        prog.finish()
        res.update(
            {
                "rate": rate,
                "sent": sent,
                "receipts": len(rlat),
                "delivered": sink.count,
                "receipt_latency": percentiles(rlat),
                "delivery_latency": percentiles(sink.samples),
                "refused": len(self.errors),
            }
        )
        if overloaded:
            res["overloaded"] = overloaded
            log(f"  {label}: overloaded, {overloaded}")
        return res

    async def windowed(
        self,
        total: int,
        duration: float,
        window: int,
        senders: int | None = None,
        db_pid: int | None = None,
    ) -> dict:
        """Maximum stored msg/s: each of the first `senders` senders (default: all)
        keeps `window` SENDs awaiting receipts. `phase_monotonic` in the result is the
        measured interval on the system-wide monotonic clock (the node's batch log
        uses the same clock)."""
        rlat: list[int] = []
        sink = Sink()
        for c in self.r_conns:
            c.on_message = sink.on_message
        s_conns = self.s_conns[: senders or len(self.s_conns)]
        makers = self.makers()[: len(s_conns)]
        flows = [Flow(window) for _ in s_conns]
        for c, f in zip(s_conns, flows, strict=False):
            c.on_receipt = receipt_recorder(rlat, f)
        each = total // len(s_conns)
        deadline = time.monotonic() + duration
        meter = Meter(self.target.pid, db_pid)
        phase_start = time.monotonic()
        meter.start()
        label = f"stompim chat (stored, {len(flows)}x{window} in flight)"
        prog = Progress(label, each * len(flows))
        t0 = time.perf_counter()
        stalled = None

        async def progress_loop() -> None:
            while True:
                prog.set(len(rlat))
                await asyncio.sleep(1)

        ticker = asyncio.ensure_future(progress_loop())
        try:
            await asyncio.gather(
                *(
                    publish_windowed(c, m, f, each, deadline, stall_s=20)
                    for c, m, f in zip(s_conns, makers, flows, strict=False)
                )
            )
            sent = sum(f.sent for f in flows)
            t_end = time.monotonic() + 15
            while len(rlat) < sent and time.monotonic() < t_end:
                await asyncio.sleep(0.02)
        except Stalled as exc:
            stalled = str(exc)
        finally:
            ticker.cancel()
        elapsed = time.perf_counter() - t0
        phase_end = time.monotonic()
        await sink.drain(len(rlat), 5)
        res = meter.stop()
        prog.finish()
        res.update(
            {
                "phase_monotonic": [round(phase_start, 6), round(phase_end, 6)],
                "sent": sum(f.sent for f in flows),
                "receipts": len(rlat),
                "delivered": sink.count,
                "senders": len(flows),
                "window_per_sender": window,
                "stored_msgs_per_s": round(len(rlat) / elapsed) if elapsed else 0,
                "receipt_latency": percentiles(rlat),
                "refused": len(self.errors),
            }
        )
        if stalled:
            res["stalled"] = stalled
        return res

    def close(self) -> None:
        close_all(self.s_conns + self.r_conns)


async def run_chat(
    target: Target, ctx: Ctx, database: str = "mariadb", db_pid: int | None = None
) -> dict:
    """Max stored msg/s (10 senders x 200 in flight), then receipt and delivery latency
    at 2,000 and 5,000 msg/s. `pair_ids` in the result lets the ceiling loop write
    the same conversations."""
    if target.http is None:
        return not_available(f"{target.name} has no IM chat")
    async with ImApi(target.http) as api:
        try:
            rig = await ChatRig.create(target, api, 4 if ctx.quick else 10, "c")
        except (NotAvailable, ApiError, ConnectionRefusedError) as exc:
            return not_available(f"setup failed: {exc}")
        try:
            why = await rig.probe()
            if why:
                return not_available(why)
            out: dict = {
                "available": True,
                "database": database,
                "pairs": len(rig.senders),
                "pair_ids": [[s.id, r.id] for s, r in zip(rig.senders, rig.receivers, strict=True)],
            }
            out["max"] = await rig.windowed(
                30_000 if ctx.quick else 200_000,
                6.0 if ctx.quick else 30.0,
                window=200,
                db_pid=db_pid,
            )
            log(
                f"  stompim chat ({database}): {out['max']['stored_msgs_per_s']:,} stored msg/s,"
                f" receipt p99 {out['max']['receipt_latency'].get('p99_ms')} ms"
            )
            for rate in CHAT_RATES:
                await asyncio.sleep(1)
                key = f"at_{rate}"
                out[key] = await rig.paced(
                    rate, 6.0 if ctx.quick else 30.0, f"stompim chat @{rate}/s", db_pid
                )
                log(
                    f"  stompim chat ({database}) @{rate}/s: receipt p50 "
                    f"{out[key]['receipt_latency'].get('p50_ms')}"
                    f" p99 {out[key]['receipt_latency'].get('p99_ms')} ms"
                )
            return out
        finally:
            rig.close()


async def run_loginstorm(target: Target, ctx: Ctx, login_rate: int = 50) -> dict:
    """Chat at 2,000 msg/s (or the highest of 2000/2^k the node sustains), quiet and then
    while `login_rate` logins/s hit POST /api/user/login; also generic-topic latency
    at 2,000 msg/s quiet and under the same storm."""
    if target.http is None:
        return not_available(f"{target.name} has no IM accounts")
    duration = 5.0 if ctx.quick else 30.0
    async with ImApi(target.http, concurrency=64) as api:
        try:
            rig = await ChatRig.create(target, api, 4, "l")
            loginers = await asyncio.gather(
                *(api.user(f"bl{RUN}x{i}", PASSWORD) for i in range(10))
            )
        except (NotAvailable, ApiError, ConnectionRefusedError) as exc:
            return not_available(f"setup failed: {exc}")
        try:
            why = await rig.probe()
            if why:
                return not_available(why)
            rate = 2000
            while True:
                quiet = await rig.paced(rate, duration, f"chat @{rate}/s, quiet")
                if "overloaded" not in quiet or rate <= 125:
                    break
                rate //= 2
                await asyncio.sleep(3)
            await asyncio.sleep(1)
            storm_task = asyncio.ensure_future(_login_storm(api, loginers, login_rate, duration))
            stormy = await rig.paced(rate, duration, f"chat @{rate}/s + {login_rate} logins/s")
            logins = await storm_task
            q = quiet["receipt_latency"].get("p99_ms") or 0
            s = stormy["receipt_latency"].get("p99_ms") or 0
            out = {
                "available": True,
                "chat_rate": rate,
                "login_rate": login_rate,
                "quiet": quiet,
                "storm": stormy,
                "logins": logins,
                "p99_ratio": round(s / q, 2) if q else None,
            }
            log(
                f"  login storm: chat @{rate}/s receipt p99 quiet {q} ms, storm {s} ms "
                f"(x{out['p99_ratio']}); logins {logins['ok']} ok at {logins['achieved_per_s']}/s"
            )
            await asyncio.sleep(2)
            out["topic"] = await _topic_under_storm(
                target, ctx, api, rig.senders[0], loginers, login_rate, duration
            )
            return out
        finally:
            rig.close()


async def _topic_under_storm(
    target: Target,
    ctx: Ctx,
    api: ImApi,
    user: User,
    loginers: list[User],
    login_rate: int,
    duration: float,
) -> dict:
    """Scenario (b)'s 2,000 msg/s topic latency, quiet and during the login storm."""
    ep = target.endpoint("ws").with_auth(Authorization=f"Bearer {user.token}")
    conns = await open_many(ep, 2)
    pub, sub = conns
    try:
        subscribe(sub, "/topic/bench.storm", "t", receipt="ts")
        await asyncio.sleep(0.3)
        make1 = send_frame_factory("/topic/bench.storm", 100)
        out: dict = {}
        for phase in ("quiet", "storm"):
            sink = Sink()
            sub.on_message = sink.on_message
            storm = (
                asyncio.ensure_future(_login_storm(api, loginers, login_rate, duration))
                if phase == "storm"
                else None
            )
            meter = Meter(target.pid)
            meter.start()
            try:
                sent = await publish_paced(
                    [pub],
                    lambda _i: make1(),
                    2000,
                    duration,
                    Progress(f"topic @2000/s, {phase}", int(2000 * duration)),
                    acked=lambda s=sink: s.count,
                    max_backlog=4000,
                )
            except Overloaded as exc:
                sent = exc.sent
            await sink.drain(sent, 5, max_s=20)
            res = meter.stop()
            res.update({"sent": sent, "delivered": sink.count, **percentiles(sink.samples)})
            if storm is not None:
                res["logins"] = await storm
            out[phase] = res
        q, s = out["quiet"].get("p99_ms"), out["storm"].get("p99_ms")
        out["p99_ratio"] = round(s / q, 2) if q and s else None
        log(f"  login storm: topic @2000/s p99 quiet {q} ms, storm {s} ms (x{out['p99_ratio']})")
        return out
    finally:
        close_all(conns)


async def _login_storm(
    api: ImApi, users: list[User], rate: int, duration: float, max_outstanding: int = 100
) -> dict:
    """`rate` logins/s for `duration` s; at most `max_outstanding` in flight (the rest
    are counted as skipped: the server is not keeping up)."""
    lat: list[int] = []
    fails: list[str] = []
    pending: set[asyncio.Task] = set()
    skipped = 0

    async def one(u: User) -> None:
        t = _perf_ns()
        try:
            await api.login(u.username, u.password)
            lat.append(_perf_ns() - t)
        except Exception as exc:
            fails.append(str(exc)[:120])

    start = time.perf_counter()
    total = int(rate * duration)
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(pending) >= max_outstanding:
            skipped += 1
            continue
        task = asyncio.ensure_future(one(users[i % len(users)]))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(set(pending), timeout=20)
    for t in list(pending):
        t.cancel()
    elapsed = time.perf_counter() - start
    return {
        "requested": total,
        "ok": len(lat),
        "failed": len(fails),
        "skipped_backlog": skipped,
        "unfinished": len(pending),
        "first_failure": fails[:1],
        "achieved_per_s": round(len(lat) / elapsed, 1),
        "latency": percentiles(lat),
    }


__all__ = ["chat_frame", "run_chat", "run_loginstorm"]
