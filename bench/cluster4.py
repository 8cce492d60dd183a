"""`python -m bench cluster4`: four stompim nodes on this machine checked against the
capacity model (docs/capacity.md, bench/capacity_model.py).

Four nodes run as separate processes (distinct loopback ports, one MariaDB database, one
Redis with a channel prefix of their own, one JWT secret). The generator registers users
over node 0's REST (bcrypt cost 4: set-up only), befriends them in a ring, makes groups,
and connects every user to node (user index mod 4), so each private message crosses nodes
(user j writes to user j+1, who sits on the next node) and each group has members on every
node. Each node also holds idle WebSocket sessions with 10 s heart-beats.

Phases: `quiet` (sessions held, no traffic: the idle term of the model), an unrecorded
5 s warm-up of the mix (the nodes' caches of users, friendships and conversations fill
once), and `load` (a paced mix scaled down from the model: `rate` messages/s in total,
10% of them group messages, for `seconds`). Per node it measures CPU (psutil, the node's
process), stored msg/s, chat write batches (= MariaDB transactions) and bridge records
published and received (from the node's /metrics), receipt latency of the sends made
through it; for the cluster,
Redis's CPU and PUBLISH calls, MariaDB's CPU and commits, the generator's CPU and everything
else's. Then the nodes stop and bench.db_batches measures MariaDB commits/s at batch sizes
1, 4, 16, 64 with 1 and 4 writers over the conversations the run made. Finally the model
predicts every per-node figure for the measured load and the node's CPU share, and each is
judged against the model's stated error (capacity_model.ERRORS).

Bounded: set-up ~30 s, quiet 10 s, load `--seconds` (default 30), database cases ~40 s.
Writes bench/results/cluster4.json.

Call order: `python -m bench cluster4 [--rate R] [--seconds S] [--idle N]` (under
`flock /work/.bench.lock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import mariadb
from bench.capacity_model import (
    ERRORS,
    DbCommits,
    Load,
    predict,
    redis_cpu_pct,
    verdict,
)
from bench.imapi import ImApi, User
from bench.load import Sink, subscribe
from bench.measure import Progress, log, percentiles, process_cpu
from bench.scenarios.chat import PASSWORD, chat_frame, receipt_recorder
from bench.scenarios.idle import HEARTBEAT, HeartBeats
from bench.targets import PYTHON, ROOT, wait_port
from bench.transport import Endpoint, close_all, open_many
from bench.wire import StompConn

NODES = 4
GROUP_EVERY = 10  # every 10th message is a group message (the model's 10%)
REDIS_URL = "redis://127.0.0.1:6379/0"
PROFILE = ROOT / "bench" / "results" / "profiles" / "cluster4-node0.txt"


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    index: int
    proc: subprocess.Popen[bytes]
    http: str
    ws: str
    tmp: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


def _env(i: int, url: str, prefix: str, secret: str, http: int, ws: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        "STOMPIM_CONFIG": str(ROOT / "config.toml"),
        "STOMPIM_SERVER_HOST": "127.0.0.1",
        "STOMPIM_SERVER_HTTP_PORT": str(http),
        "STOMPIM_SERVER_WS_PORT": str(ws),
        "STOMPIM_SERVER_TCP_PORT": "-1",
        "STOMPIM_SERVER_NODE_ID": f"{prefix}-n{i}",
        "STOMPIM_DATABASE_URL": url,
        "STOMPIM_REDIS_URL": REDIS_URL,
        "STOMPIM_REDIS_CHANNEL_PREFIX": prefix,
        "STOMPIM_AUTH_JWT_SECRET": secret,
        "STOMPIM_AUTH_BCRYPT_ROUNDS": "4",
        "STOMPIM_AUTH_REGISTER_MAX_PER_IP": "100000",
        "STOMPIM_STOMP_ALLOW_ANONYMOUS": "true",
        "STOMPIM_STOMP_MAX_CONNECTIONS_PER_USER": "100000",
    })
    return env


async def start_node(i: int, url: str, prefix: str, secret: str) -> Node:
    http, ws = free_port(), free_port()
    tmp = Path(tempfile.mkdtemp(prefix=f"stompim-cluster4-{i}-"))
    logf = open(tmp / "node.log", "wb")
    proc = subprocess.Popen(
        [PYTHON, "-m", "stompim", "--log-level", "WARNING", "serve"], cwd=tmp,
        env=_env(i, url, prefix, secret, http, ws), stdout=logf, stderr=subprocess.STDOUT)
    logf.close()
    node = Node(i, proc, f"http://127.0.0.1:{http}", f"ws://127.0.0.1:{ws}/ws", tmp)
    try:
        await wait_port(ws, proc, 60)
        await wait_port(http, proc, 20)
    except Exception:
        stop_node(node)
        raise RuntimeError(f"node {i} did not start: "
                           + (tmp / "node.log").read_text(errors="replace")[-1500:]) from None
    return node


def stop_node(node: Node) -> None:
    if node.proc.poll() is None:
        node.proc.send_signal(signal.SIGTERM)
        try:
            node.proc.wait(20)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(5)
    if os.environ.get("BENCH_KEEP_LOGS") != "1":
        shutil.rmtree(node.tmp, ignore_errors=True)


WANTED = (
    "stompim_chat_messages_stored_total",
    "stompim_chat_batch_size_count",
    "stompim_chat_batch_size_sum",
    "stompim_bridge_published_records_total",
    "stompim_bridge_published_batches_total",
    "stompim_bridge_received_records_total",
    "stompim_bridge_dropped_total",
)


async def scrape(api: ImApi, base: str) -> dict[str, float]:
    """The counters the check reads from one node's /metrics (summed over labels)."""
    assert api._session is not None
    async with api._session.get(base + "/metrics") as r:
        text = await r.text()
    out = dict.fromkeys(WANTED, 0.0)
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in out:
            with contextlib.suppress(ValueError, IndexError):
                out[name] += float(line.rsplit(" ", 1)[1])
    return out


def _cpu_of(pid: int | None) -> float:
    if not pid:
        return 0.0
    try:
        return process_cpu(psutil.Process(pid))
    except psutil.Error:
        return 0.0


def _busy() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def _self_cpu() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def redis_pid() -> int | None:
    for p in psutil.process_iter(["name"]):
        if p.info["name"] == "redis-server":
            return int(p.pid)
    return None


class Window:
    """CPU of each node, the generator, MariaDB, Redis and everything else over one phase."""

    def __init__(self, nodes: list[Node], db_pid: int | None, rd_pid: int | None) -> None:
        self.pids = {f"node{n.index}": n.pid for n in nodes}
        self.pids["mariadb"] = db_pid or 0
        self.pids["redis"] = rd_pid or 0

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.c0 = {k: _cpu_of(p) for k, p in self.pids.items()}
        self.g0, self.b0 = _self_cpu(), _busy()

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        cpu = {k: _cpu_of(p) - self.c0[k] for k, p in self.pids.items()}
        gen = _self_cpu() - self.g0
        busy = _busy() - self.b0
        pct = {k: round(100 * v / wall, 1) for k, v in cpu.items()}
        pct["generator"] = round(100 * gen / wall, 1)
        pct["others"] = round(100 * max(0.0, busy - gen - sum(cpu.values())) / wall, 1)
        return {"wall_s": round(wall, 3), "cpu_pct": pct, "cores": psutil.cpu_count()}


async def redis_stats(prefix: str) -> dict[str, Any]:
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        stats = await r.info("commandstats")
        pub = (stats.get("cmdstat_publish") or {}).get("calls", 0)
        chans = [c.decode() for c in await r.pubsub_channels(f"{prefix}*")]
        subs = dict(await r.pubsub_numsub(*chans)) if chans else {}
        return {"publish_calls": int(pub),
                "subscribers": {k.decode() if isinstance(k, bytes) else k: int(v)
                                for k, v in subs.items()}}
    finally:
        await r.aclose()


async def mariadb_commits() -> int:
    rows = await mariadb._exec("SHOW GLOBAL STATUS LIKE 'Com_commit'")
    return int(rows[0][1]) if rows else 0


@dataclass
class Rig:
    users: list[User]
    groups: list[int]  # group id of user j's group: groups[j // group_size]
    group_size: int
    conns: list[StompConn]
    idle: list[StompConn]

    def node_of(self, j: int) -> int:
        return j % NODES

    def group_of(self, j: int) -> int:
        return self.groups[min(j // self.group_size, len(self.groups) - 1)]


async def set_up(nodes: list[Node], api: ImApi, users: int, group_size: int,
                 idle: int, beats: HeartBeats) -> Rig:
    tag = f"{os.getpid() % 100000}"
    prog = Progress(f"register {users} users", users)

    async def reg(j: int) -> User:
        u = await api.user(f"c4{tag}u{j}", PASSWORD)
        prog.add(1)
        return u

    us = list(await asyncio.gather(*(reg(j) for j in range(users))))
    prog.finish()
    await asyncio.gather(*(api.befriend(us[j], us[(j + 1) % users]) for j in range(users)))
    groups = []
    for g in range(0, users, group_size):
        members = us[g:g + group_size]
        if len(members) < 2:
            break
        groups.append(await api.create_group(members[0], f"c4{tag}g{g}", members[1:]))
    log(f"  {users} users befriended in a ring, {len(groups)} groups of {group_size}")
    eps = [Endpoint(nodes[j % NODES].ws).with_auth(Authorization=f"Bearer {u.token}")
           for j, u in enumerate(us)]
    conns = await open_many(eps, users, concurrency=50)
    rig = Rig(us, groups, group_size, conns, [])
    for j, c in enumerate(conns):
        subscribe(c, "/user/queue/chat", "q", receipt=f"q{j}")
        subscribe(c, f"/topic/chat/{rig.group_of(j)}", "g", receipt=f"g{j}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(c.receipts < 2 and not c.error for c in conns):
        await asyncio.sleep(0.05)
    bad = [c for c in conns if c.error or c.is_closed]
    if bad:
        raise RuntimeError(f"{len(bad)} sessions refused: {bad[0].error!r}")
    prog = Progress(f"open {idle} idle sessions per node", idle * NODES)
    for n in nodes:
        opened = await open_many(Endpoint(n.ws), idle, HEARTBEAT, concurrency=64, progress=prog)
        for c in opened:
            beats.add(c)
        rig.idle += opened
    prog.finish()
    return rig


async def drive(rig: Rig, rate: float, seconds: float) -> dict[str, Any]:
    """The paced mix: message k is sent by user k mod U; every GROUP_EVERY-th is a group
    message to that user's group, the others go to user k+1 (on the next node)."""
    n_users = len(rig.users)
    private = [chat_frame("/app/chat/private", "toUserId", rig.users[(j + 1) % n_users].id)
               for j in range(n_users)]
    group = [chat_frame("/app/chat/group", "groupId", rig.group_of(j)) for j in range(n_users)]
    rlat: list[list[int]] = [[] for _ in range(NODES)]
    sinks = [Sink(sample_every=5) for _ in range(NODES)]
    for j, c in enumerate(rig.conns):
        c.on_receipt = receipt_recorder(rlat[rig.node_of(j)], None)
        c.on_message = sinks[rig.node_of(j)].on_message
    sent = {"private": [0] * NODES, "group": [0] * NODES}
    total = int(rate * seconds)
    prog = Progress(f"mix at {rate:,.0f} msg/s", total)
    t0 = time.perf_counter()
    k = 0
    while k < total and time.perf_counter() - t0 < seconds + 5:
        due = min(total, int((time.perf_counter() - t0) * rate) + 1)
        while k < due:
            j = k % n_users
            node = rig.node_of(j)
            if k % GROUP_EVERY == GROUP_EVERY - 1:
                rig.conns[j].send(group[j]())
                sent["group"][node] += 1
            else:
                rig.conns[j].send(private[j]())
                sent["private"][node] += 1
            k += 1
        prog.set(k)
        await asyncio.sleep(0.002)
    send_s = time.perf_counter() - t0
    end = time.monotonic() + 15
    while sum(map(len, rlat)) < k and time.monotonic() < end:
        await asyncio.sleep(0.02)
    prog.finish()
    return {"sent": sent, "send_s": round(send_s, 3), "receipts": rlat, "sinks": sinks}


def expected_deliveries(rig: Rig, sent_private: list[int], sent_group: list[int]
                        ) -> tuple[list[float], list[float]]:
    """Per node: private deliveries (the recipient's session on the next node, and the
    sender's own session: both user queues) and group deliveries (members on the node)."""
    members_on = [sum(1 for j in range(rig.group_size) if j % NODES == n) for n in range(NODES)]
    priv = [float(sent_private[n] + sent_private[(n - 1) % NODES]) for n in range(NODES)]
    grp = [float(sum(sent_group) * members_on[n]) for n in range(NODES)]
    return priv, grp


def start_profile(pid: int, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy on node 0 for the load phase (raw stacks, idle frames left out)."""
    PROFILE.parent.mkdir(parents=True, exist_ok=True)
    spy = str(Path(PYTHON).parent / "py-spy")
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
         "--format", "raw", "-o", str(PROFILE)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finish_profile(spy: subprocess.Popen[bytes]) -> dict[str, Any]:
    try:
        spy.wait(30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait(5)
    if not PROFILE.exists():
        return {"available": False, "reason": f"py-spy exited {spy.returncode}"}
    from bench.profile import summarize

    total, selfs, incl = summarize(PROFILE)
    return {"file": str(PROFILE.relative_to(ROOT)), "samples": total,
            "self_pct": selfs[:12], "inclusive_pct": incl[:15]}


async def run(rate: float, seconds: float, idle: int, users: int, group_size: int,
              db_seconds: float, command: str, profile: bool = False) -> dict[str, Any]:
    why = await mariadb.reachable()
    if why:
        return {"available": False, "reason": why}
    from bench.limits import raise_own_limit

    raise_own_limit()
    url, dbname = await mariadb.create_database("c4")
    prefix = f"c4b{os.getpid()}"
    secret = secrets.token_hex(24)
    nodes: list[Node] = []
    out: dict[str, Any] = {
        "available": True, "command": command, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "nodes": NODES, "rate": rate, "seconds": seconds, "idle_per_node": idle,
        "users": users, "group_size": group_size, "group_share": 1 / GROUP_EVERY,
        "database_version": await mariadb.server_version(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    beats = HeartBeats(HEARTBEAT[0] / 1000)
    stop = asyncio.Event()
    beat_task: asyncio.Task[None] | None = None
    rig: Rig | None = None
    try:
        nodes.append(await start_node(0, url, prefix, secret))  # migrates the schema
        nodes += await asyncio.gather(*(start_node(i, url, prefix, secret)
                                        for i in range(1, NODES)))
        db_pid, rd_pid = mariadb.server_pid(), redis_pid()
        async with ImApi(nodes[0].http, concurrency=16) as api:
            rig = await set_up(nodes, api, users, group_size, idle, beats)
            beat_task = asyncio.ensure_future(beats.run(stop))
            await asyncio.sleep(3)
            win = Window(nodes, db_pid, rd_pid)
            log("== quiet phase (sessions held, no traffic) 10 s")
            win.start()
            await asyncio.sleep(10)
            out["quiet"] = win.stop()
            log("== warm-up: the same mix for 5 s, not recorded (the nodes' caches fill)")
            await drive(rig, rate, 5)
            await asyncio.sleep(1)
            before = [await scrape(api, n.http) for n in nodes]
            rs0, com0 = await redis_stats(prefix), await mariadb_commits()
            log(f"== load phase: {rate:,.0f} msg/s for {seconds:.0f} s")
            spy = start_profile(nodes[0].pid, seconds) if profile else None
            win.start()
            d = await drive(rig, rate, seconds)
            phase = win.stop()
            if spy is not None:
                out["profile_node0"] = finish_profile(spy)
            after = [await scrape(api, n.http) for n in nodes]
            rs1, com1 = await redis_stats(prefix), await mariadb_commits()
        wall = phase["wall_s"]
        out["load"] = phase
        out["redis"] = {
            "publish_calls_per_s": round((rs1["publish_calls"] - rs0["publish_calls"]) / wall, 1),
            "channels_subscribers": rs1["subscribers"],
            "note": "PUBLISH calls and CPU are the whole Redis server's (other users count too)",
        }
        out["mariadb_commits_per_s_server"] = round((com1 - com0) / wall, 1)
        per_node = []
        priv_exp, grp_exp = expected_deliveries(rig, d["sent"]["private"], d["sent"]["group"])
        for n in range(NODES):
            delta = {k: after[n][k] - before[n][k] for k in WANTED}
            sink: Sink = d["sinks"][n]
            per_node.append({
                "node": n,
                "cpu_pct": phase["cpu_pct"][f"node{n}"],
                "quiet_cpu_pct": out["quiet"]["cpu_pct"][f"node{n}"],
                "sent_private": d["sent"]["private"][n],
                "sent_group": d["sent"]["group"][n],
                "stored": int(delta["stompim_chat_messages_stored_total"]),
                "stored_msgs_per_s": round(delta["stompim_chat_messages_stored_total"] / wall, 1),
                "transactions_per_s": round(delta["stompim_chat_batch_size_count"] / wall, 1),
                "mean_batch": round(delta["stompim_chat_batch_size_sum"]
                                    / max(1.0, delta["stompim_chat_batch_size_count"]), 2),
                "records_out_per_s": round(
                    delta["stompim_bridge_published_records_total"] / wall, 1),
                "bridge_publishes_per_s": round(
                    delta["stompim_bridge_published_batches_total"] / wall, 1),
                "records_in_per_s": round(
                    delta["stompim_bridge_received_records_total"] / wall, 1),
                "bridge_dropped": delta["stompim_bridge_dropped_total"],
                "deliveries": sink.count,
                "expected_deliveries": round(priv_exp[n] + grp_exp[n]),
                "receipts": len(d["receipts"][n]),
                "receipt_latency": percentiles(d["receipts"][n]),
                "delivery_latency": percentiles(sink.samples),
            })
        out["per_node"] = per_node
        out["sent_total"] = sum(d["sent"]["private"]) + sum(d["sent"]["group"])
        out["send_s"] = d["send_s"]
    finally:
        stop.set()
        if beat_task is not None:
            await asyncio.gather(beat_task, return_exceptions=True)
        if rig is not None:
            close_all(rig.conns + rig.idle)
        for n in nodes:
            stop_node(n)
    try:
        if rig is not None:
            from bench.ceiling import conversation_ids
            from bench.db_batches import run_cases

            pairs = [(rig.users[j].id, rig.users[(j + 1) % len(rig.users)].id)
                     for j in range(len(rig.users))]
            cids = await conversation_ids(url, pairs)
            convs = [(c, a, b) for c, (a, b) in zip(cids, pairs, strict=True)]
            log("== MariaDB commits at batch sizes 1, 4, 16, 64 (1 and 4 writers)")
            out["db_batches"] = await run_cases(url, convs, seconds=db_seconds,
                                                db_pid=mariadb.server_pid())
    finally:
        await mariadb.drop_database(dbname)
    out["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    out["check"] = check(out, wall_s=out["load"]["wall_s"], rig_group=group_size)
    return out


def stored_count(n: dict[str, Any], wall_s: float) -> float:
    """Messages a node stored during the load phase (older results kept only the rate)."""
    return float(n.get("stored", n["stored_msgs_per_s"] * wall_s))


def check(out: dict[str, Any], wall_s: float, rig_group: int) -> dict[str, Any]:
    """The model's per-node predictions for the measured load and CPU share, and each
    measured figure against them."""
    cpu = out["load"]["cpu_pct"]
    cores = out["load"]["cores"] or 2
    non_node = sum(v for k, v in cpu.items() if not k.startswith("node")) / 100
    share = max(0.0, cores - non_node) / NODES
    db = DbCommits.from_cases(out.get("db_batches") or [], writers=NODES)
    members_on = [sum(1 for j in range(rig_group) if j % NODES == n) for n in range(NODES)]
    # the offered load is what was sent over the sending time; the measured rates are over
    # the phase's wall time, which adds the wait for the last receipts (short when the nodes
    # keep up)
    send_s = out.get("send_s") or wall_s
    total_group = sum(n["sent_group"] for n in out["per_node"]) / send_s
    sessions = out["users"] // NODES + out["idle_per_node"]
    rows = []
    preds = []
    for n in out["per_node"]:
        i = n["node"]
        prev = out["per_node"][(i - 1) % NODES]
        load = Load(
            nodes=NODES,
            private_msgs=n["sent_private"] / send_s,
            group_msgs=n["sent_group"] / send_s,
            private_deliveries=(n["sent_private"] + prev["sent_private"]) / send_s,
            group_deliveries=total_group * members_on[i],
            sessions=sessions,
        )
        p = predict(load, db if db.by_batch else None, share)
        stored = n["stored_msgs_per_s"] or 0
        # all-in node CPU per message sent through it (everything the load phase added
        # over the quiet phase, deliveries and decoding of other nodes' records included)
        p["measured_cpu_us_per_msg"] = round(
            1e4 * (n["cpu_pct"] - n["quiet_cpu_pct"]) / stored, 1) if stored else None
        p["model_cpu_us_per_msg"] = round(
            1e4 * (p["cpu_demand_pct"] - 100 * p["cpu_terms_cores"]["idle sessions"])
            / (load.private_msgs + load.group_msgs), 1) if stored else None
        idle_pred = round(100 * sessions * (0.09 / 19_744), 2)
        p["quiet_cpu_pct"] = idle_pred
        preds.append(p)
        for label, kind, measured, predicted in (
            ("CPU, % of a core (load)", "cpu", n["cpu_pct"], p["cpu_pct"]),
            ("CPU, % of a core (quiet: sessions only)", "cpu", n["quiet_cpu_pct"], idle_pred),
            # counts of the phase (messages sent in the window and stored, records published
            # and received, by the end of the phase) over the sending time, as the offered
            # load is; how late they were is the receipt latency's business
            ("stored msg/s", "msgs", round(stored_count(n, wall_s) / send_s, 1),
             p["stored_msgs_per_s"]),
            ("bridge records published/s", "records",
             round(n["records_out_per_s"] * wall_s / send_s, 1), p["records_out_per_s"]),
            ("bridge records received/s", "records",
             round(n["records_in_per_s"] * wall_s / send_s, 1), p["records_in_per_s"]),
            ("MariaDB transactions/s (chat batches)", "transactions", n["transactions_per_s"],
             p.get("transactions_per_s")),
            ("receipt p50, ms", "receipt_p50", n["receipt_latency"].get("p50_ms"),
             p.get("receipt_p50_ms")),
        ):
            rows.append({"node": i, "figure": label, "measured": measured,
                         "predicted": predicted, **verdict(measured, predicted, kind)})
    # Redis is shared with everything else on the machine: its CPU in the quiet phase (other
    # clients, its own timers) is the baseline the model's pub/sub term is added to
    base = (out.get("quiet") or {}).get("cpu_pct", {}).get("redis", 0.0)
    records_total = sum(n["records_out_per_s"] for n in out["per_node"])
    lo, hi = redis_cpu_pct(records_total, NODES)
    mid = round(base + (lo + hi) / 2, 2)
    rows.append({"node": "redis", "figure": "Redis CPU, % of a core (quiet-phase baseline "
                 f"{base} + pub/sub)", "measured": cpu["redis"], "predicted": mid,
                 "predicted_range": [base + lo, base + hi],
                 **verdict(cpu["redis"], mid, "redis_cpu")})
    passed = [r["pass"] for r in rows if r["pass"] is not None]
    return {
        "share_cores_per_node": round(share, 3),
        "share_note": (
            f"{cores} cores less the CPU of the generator, MariaDB, Redis and every other "
            f"process during the load phase ({100 * non_node:.0f}% of a core), split over "
            f"{NODES} nodes"),
        "errors_allowed": ERRORS,
        "predicted": preds,
        "rows": rows,
        "passed": sum(1 for x in passed if x),
        "judged": len(passed),
    }


def main(argv: list[str]) -> int:
    import argparse
    import json
    import shlex

    import uvloop

    p = argparse.ArgumentParser(prog="python -m bench cluster4", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=1200, help="messages/s in total (1,200)")
    p.add_argument("--seconds", type=float, default=30, help="load phase length (30)")
    p.add_argument("--idle", type=int, default=1000, help="idle sessions per node (1,000)")
    p.add_argument("--users", type=int, default=192, help="active users (192)")
    p.add_argument("--group-size", type=int, default=48, help="members per group (48)")
    p.add_argument("--db-seconds", type=float, default=4, help="per database case (4)")
    p.add_argument("--profile", action="store_true",
                   help="py-spy on node 0 during the load phase (profiles/cluster4-node0.txt)")
    p.add_argument("--out", default="cluster4",
                   help="results file name under bench/results (cluster4); the report shows "
                        "cluster4-*.json files as further runs")
    p.add_argument("--no-report", action="store_true")
    args = p.parse_args(argv)
    if args.users % NODES or args.group_size % NODES:
        raise SystemExit(f"--users and --group-size must be multiples of {NODES}")
    command = "python -m bench cluster4 " + " ".join(shlex.quote(a) for a in argv)
    res = uvloop.run(run(args.rate, args.seconds, args.idle, args.users, args.group_size,
                         args.db_seconds, command.strip(), args.profile))
    from bench.__main__ import RESULTS, machine

    res["machine"] = machine()
    (RESULTS / f"{args.out}.json").write_text(json.dumps(res, indent=2) + "\n")
    chk = res.get("check") or {}
    for r in chk.get("rows", []):
        log(f"  node {r['node']}: {r['figure']}: measured {r['measured']} predicted "
            f"{r['predicted']} error {r['error']} allowed {r['allowed']} "
            f"{'pass' if r['pass'] else 'miss' if r['pass'] is False else '-'}")
    log(f"  {chk.get('passed')} of {chk.get('judged')} figures within the model's error")
    if not args.no_report:
        from bench.report import write_report

        write_report(RESULTS)
    return 0
