"""`bench synapse --db sqlite|postgresql|both`: Synapse and stompim's persisted private
chat, side by side, on the same class of database in one run.

Pairs: Synapse's 1:1 chat is a private room of two users (created by one, joined by
the other); stompim's is two friends on /app/chat/private. The same 8 pairs, the
same 61-character text, on both:

- `stored`: stored messages/s with 64 sends in flight in all (8 per pair). Synapse:
  `PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}`, a 200 means
  persisted; stompim: SEND with a receipt, a RECEIPT means stored.
- `sequential`: one sender, one send at a time: send latency p50/p99.
- `rates`: end-to-end delivery latency at fixed total rates (`RATES`), spread over
  the pairs; Synapse's receivers long-poll `/sync`, stompim's are subscribed to
  /user/queue/chat. Send time is stamped in the text, both ends in this process.

Database classes: Synapse on SQLite against stompim on SQLite; Synapse on PostgreSQL
against stompim on MariaDB (stompim has no PostgreSQL backend).

Every loop is bounded in count and in time. Call order:
`await run_synapse_side_by_side(kind, ctx)` -> {run key: result}.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import traceback
from typing import Any
from urllib.parse import quote

from bench import mariadb
from bench.imapi import ApiError, ImApi, NotAvailable
from bench.imnode import database_version, im_database, im_node
from bench.measure import Meter, Progress, log, percentiles, wait_quiet
from bench.scenarios.chat import ChatRig, not_available
from bench.scenarios.generic import Ctx
from bench.synapse import Homeserver, MatrixUser, start_synapse
from bench.targets import TargetUnavailable

PAIRS = 8
INFLIGHT = 64
RATES = (10, 50, 100)
PAD = "x" * 40
STOMPIM_DB = {"sqlite": "sqlite", "postgresql": "mariadb"}  # the same class of database
_perf_ns = time.perf_counter_ns
SYNC_FILTER = json.dumps(
    {
        "room": {"timeline": {"limit": 1000}, "state": {"lazy_load_members": True}},
        "presence": {"types": []},
        "account_data": {"types": []},
    },
    separators=(",", ":"),
)


def stamp_body() -> dict[str, str]:
    return {"msgtype": "m.text", "body": f"@@{_perf_ns():019d}{PAD}"}


def read_body_stamp(body: Any) -> int | None:
    """The send time (perf_counter ns) stamped into a message text, or None."""
    if not isinstance(body, str) or not body.startswith("@@") or len(body) < 21:
        return None
    try:
        return int(body[2:21])
    except ValueError:
        return None


def sync_latencies(
    payload: dict[str, Any], now_ns: int, since_ns: int, seen: set[str]
) -> list[int]:
    """Delivery latencies (ns) of the stamped m.room.message events in one /sync answer
    that were sent at or after `since_ns` (a late event of an earlier phase is not
    this phase's) and not counted before (`seen`, event ids, is updated)."""
    out = []
    rooms = (payload.get("rooms") or {}).get("join") or {}
    for room in rooms.values():
        for ev in (room.get("timeline") or {}).get("events") or []:
            if ev.get("type") != "m.room.message" or ev.get("event_id") in seen:
                continue
            stamp = read_body_stamp((ev.get("content") or {}).get("body"))
            if stamp is not None and stamp >= since_ns:
                seen.add(str(ev.get("event_id")))
                out.append(now_ns - stamp)
    return out


class SynapseChat:
    """Pairs of Synapse users, each pair in its own private room."""

    def __init__(self, hs: Homeserver) -> None:
        self.hs = hs
        self.pairs: list[tuple[MatrixUser, MatrixUser, str]] = []
        self._txn = itertools.count()

    async def setup(self, pairs: int) -> None:
        for i in range(pairs):
            a = await self.hs.register(f"s{i}", "Bench-pass-123")
            b = await self.hs.register(f"r{i}", "Bench-pass-123")
            self.pairs.append((a, b, await self.hs.direct_room(a, b)))

    async def send(self, i: int) -> int:
        """One message from pair i's sender; its latency in ns (raises on non-200)."""
        a, _, room = self.pairs[i % len(self.pairs)]
        txn = f"b{next(self._txn)}t{_perf_ns()}"
        t0 = _perf_ns()
        await self.hs.call(
            "PUT",
            f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{txn}",
            a.token,
            stamp_body(),
        )
        return _perf_ns() - t0

    async def stored(self, total: int, duration: float, inflight: int = INFLIGHT) -> dict:
        """Stored msg/s with `inflight` sends outstanding at all times."""
        lat: list[int] = []
        errors: list[str] = []
        next_i = itertools.count()
        deadline = time.monotonic() + duration
        prog = Progress(f"synapse stored ({inflight} in flight)", total)

        async def worker(w: int) -> None:
            while time.monotonic() < deadline:
                n = next(next_i)
                if n >= total:
                    return
                try:
                    lat.append(await self.send(w))
                except Exception as exc:
                    errors.append(str(exc)[:200])
                    if len(errors) > 100:
                        return
                prog.set(len(lat))

        meter = Meter(self.hs.pid, self.hs.db_pid)
        meter.start()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(inflight)))
        elapsed = time.perf_counter() - t0
        res = meter.stop()
        prog.finish()
        res.update(
            {
                "in_flight": inflight,
                "pairs": len(self.pairs),
                "stored": len(lat),
                "errors": len(errors),
                "first_error": errors[:1],
                "stored_msgs_per_s": round(len(lat) / elapsed, 1) if elapsed else 0,
                "send_latency": percentiles(lat),
            }
        )
        log(f"  synapse ({self.hs.database}): {res['stored_msgs_per_s']} stored msg/s "
            f"with {inflight} in flight, p99 {res['send_latency'].get('p99_ms')} ms")
        return res

    async def at_rate(self, rate: int, duration: float) -> dict:
        """Delivery latency at `rate` msg/s in all, receivers on /sync long-poll."""
        lat: list[int] = []
        seen: set[str] = set()
        since: dict[int, str] = {}
        stop = asyncio.Event()
        phase_ns = _perf_ns()
        for j, (_, b, _) in enumerate(self.pairs):
            first = await self._sync(b, None, 0)
            since[j] = first["next_batch"]

        async def receiver(j: int) -> None:
            b = self.pairs[j][1]
            while not stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    data = await self._sync(b, since[j], 5000)
                    since[j] = data["next_batch"]
                    lat.extend(sync_latencies(data, _perf_ns(), phase_ns, seen))

        receivers = [asyncio.ensure_future(receiver(j)) for j in range(len(self.pairs))]
        sends: set[asyncio.Task[int]] = set()
        errors: list[str] = []
        total = int(rate * duration)
        sent = 0
        overloaded = None
        meter = Meter(self.hs.pid, self.hs.db_pid)
        meter.start()
        prog = Progress(f"synapse @{rate}/s", total)
        start = time.perf_counter()
        try:
            for i in range(total):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if len(sends) > 2 * rate:
                    overloaded = f"{len(sends)} sends outstanding after {i} ({i / rate:.1f}s)"
                    break
                task = asyncio.ensure_future(self.send(i))
                task.add_done_callback(sends.discard)
                sends.add(task)
                sent += 1
                prog.set(len(lat))
            if sends:
                done, _ = await asyncio.wait(set(sends), timeout=30)
                errors += [str(t.exception())[:200] for t in done if t.exception()]
            ok = sent - len(errors) - len(sends)
            t_end = time.monotonic() + 15
            while len(lat) < ok and time.monotonic() < t_end:
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            for t in list(sends) + receivers:
                t.cancel()
            await asyncio.gather(*receivers, *sends, return_exceptions=True)
        res = meter.stop()
        prog.finish()
        res.update(
            {
                "rate": rate,
                "sent": sent,
                "errors": len(errors),
                "first_error": errors[:1],
                "delivered": len(lat),
                "delivery_latency": percentiles(lat),
            }
        )
        if overloaded:
            res["overloaded"] = overloaded
        log(f"  synapse ({self.hs.database}) @{rate}/s: delivery p50 "
            f"{res['delivery_latency'].get('p50_ms')} p99 {res['delivery_latency'].get('p99_ms')}"
            f" ms{' OVERLOADED ' + overloaded if overloaded else ''}")
        return res

    async def _sync(self, user: MatrixUser, since: str | None, timeout_ms: int) -> dict:
        q = f"?timeout={timeout_ms}&filter={quote(SYNC_FILTER)}"
        if since:
            q += f"&since={quote(since)}"
        return await self.hs.call("GET", f"/_matrix/client/v3/sync{q}", user.token)


def _sizes(ctx: Ctx) -> dict[str, Any]:
    return {
        "stored_total": 2_000 if ctx.quick else 20_000,
        "stompim_stored_total": 30_000 if ctx.quick else 200_000,
        "duration": 6.0 if ctx.quick else 30.0,
        "sequential_total": 200 if ctx.quick else 2_000,
        "rate_duration": 5.0 if ctx.quick else 20.0,
    }


async def run_synapse(kind: str, ctx: Ctx) -> dict[str, Any]:
    z = _sizes(ctx)
    quiet = await wait_quiet(ctx.quiet_wait())
    log(f"== synapse ({kind}){' (quick)' if ctx.quick else ''}")
    try:
        async with start_synapse(kind) as hs:
            chat = SynapseChat(hs)
            await chat.setup(PAIRS)
            out: dict[str, Any] = {
                "available": True, "database": kind, "notes": hs.notes,
                "others_cpu_pct_before": quiet,
            }
            out["stored"] = await chat.stored(z["stored_total"], z["duration"])
            out["sequential"] = await chat.stored(z["sequential_total"], z["duration"], 1)
            out["rates"] = {}
            for rate in RATES:
                out["rates"][str(rate)] = await chat.at_rate(rate, z["rate_duration"])
            return out
    except TargetUnavailable as exc:
        return not_available(str(exc))


async def run_stompim_like_synapse(db_kind: str, ctx: Ctx) -> dict[str, Any]:
    """stompim's persisted private chat in the shapes `run_synapse` measures."""
    z = _sizes(ctx)
    db_pid = mariadb.server_pid() if db_kind == "mariadb" else None
    quiet = await wait_quiet(ctx.quiet_wait())
    log(f"== stompim chat like synapse ({db_kind}){' (quick)' if ctx.quick else ''}")
    async with im_database(db_kind, "s") as db:
        try:
            async with im_node(db, ctx.opts) as target, ImApi(target.http or "") as api:
                try:
                    rig = await ChatRig.create(target, api, PAIRS, "m")
                except (NotAvailable, ApiError, ConnectionRefusedError) as exc:
                    return not_available(f"setup failed: {exc}")
                try:
                    why = await rig.probe()
                    if why:
                        return not_available(why)
                    out: dict[str, Any] = {
                        "available": True, "database": db_kind, "others_cpu_pct_before": quiet,
                        "database_version": await database_version(db_kind),
                    }
                    out["stored"] = await rig.windowed(
                        z["stompim_stored_total"], z["duration"], INFLIGHT // PAIRS,
                        db_pid=db_pid,
                    )
                    out["sequential"] = await rig.windowed(
                        z["sequential_total"], z["duration"], 1, senders=1, db_pid=db_pid
                    )
                    out["rates"] = {}
                    for rate in RATES:
                        await asyncio.sleep(0.5)
                        out["rates"][str(rate)] = await rig.paced(
                            rate, z["rate_duration"], f"stompim @{rate}/s", db_pid
                        )
                    log(f"  stompim ({db_kind}): {out['stored']['stored_msgs_per_s']:,} stored"
                        f" msg/s with {INFLIGHT} in flight")
                    return out
                finally:
                    rig.close()
        except TargetUnavailable as exc:
            return not_available(str(exc))


async def run_synapse_side_by_side(kind: str, ctx: Ctx) -> dict[str, dict]:
    """Synapse on `kind`, then stompim on the same class of database."""
    out: dict[str, dict] = {}
    stompim_db = STOMPIM_DB[kind]
    for key, job in (
        (f"synapse-{kind}", lambda: run_synapse(kind, ctx)),
        (f"stompim-{stompim_db}", lambda: run_stompim_like_synapse(stompim_db, ctx)),
    ):
        try:
            out[key] = await job()
        except Exception as exc:
            traceback.print_exc()
            out[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return out
