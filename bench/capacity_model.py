"""The capacity model of docs/capacity.md as code: per-node figures predicted for a load.

docs/capacity.md sizes a cluster for 1,000,000 users from unit costs measured on this
project's bench machine (CPU per stored message, per delivery, per bridge record decoded,
per idle session; Redis CPU per MB written to subscribers; the database's commit time at a
batch size). `predict(load, db)` applies the same arithmetic to any load, so the 4-node run
(bench/cluster4.py) can set what the model says next to what the nodes did, term by term,
and judge each figure against the error the model states (`ERRORS`).

CPU share: on one 2-core machine four nodes, the generator, MariaDB and Redis share the
cores. The unit costs are CPU-seconds per unit of work, which do not change with the share a
process gets as long as it gets what it asks for; so the model first predicts each node's
demand, then caps it at the node's share of what the other processes left
(`share_cores`). Below the cap the node does all the offered work at the predicted CPU;
above it the node's msg/s is the share divided by the CPU per message.

Call order: `load = Load(...)`, `db = DbCommits.from_cases(cases)` (bench.db_batches), then
`predict(load, db, share_cores)` -> dict; `compare(predicted, measured)` -> rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# -- inputs, as docs/capacity.md lists them (measured on the bench machine) -----------------
IDLE_CORE_PER_SESSION = 0.09 / 19_744  # 9% of a core for 19,744 sessions, heart-beats 10 s
STORED_MSG_S = 106e-6  # node CPU per persisted message (chat bench, MariaDB, large batches)
PRIVATE_DELIVERY_S = 12.5e-6  # 1->1 routed message
GROUP_DELIVERY_S = 5.1e-6  # group delivery end to end (upper of 1.9-5.1 us)
# Node CPU per heard bridge record: the bridge reads the destination and skips the rest when
# no local session subscribes (bench.bridge_decode, in-process, 5.0 us against 22.2 us for
# the full decode and hand-off in the same run; was 10 us, decode only, before the skip).
# A record a local session wants costs more, its delivery counted in the delivery terms.
RECORD_DECODE_S = 5.0e-6
REDIS_S_PER_MB_OUT = (0.47e-3, 0.84e-3)  # Redis CPU per MB written to subscribers
RECORD_BYTES = 600  # a private-chat MESSAGE record on the bridge, about
# Records each message puts on the bridge. docs/capacity.md (before the 4-node check) took
# one per message; a private message is published to two user queues (the recipient's and
# the sender's, for the sender's other devices: stompim/stomp/destinations.py), a group
# message to its topic once.
RECORDS_PER_PRIVATE = 2.0
RECORDS_PER_GROUP = 1.0

# The error the model states for each kind of figure (relative, +-): the unit costs were
# measured on a shared 2-core VM whose absolute rates moved +-70% between runs but whose
# CPU per unit of work moved much less; counts (records, transactions) are arithmetic.
ERRORS = {
    "cpu": 0.35,
    "msgs": 0.05,
    "records": 0.10,
    "transactions": 0.30,
    "receipt_p50": 0.50,
    "redis_cpu": 0.50,
}


@dataclass(frozen=True)
class Load:
    """What one node of the run carries (per second unless said)."""

    nodes: int
    private_msgs: float  # private messages sent by this node's sessions
    group_msgs: float  # group messages sent by this node's sessions
    private_deliveries: float  # private messages delivered to this node's sessions
    group_deliveries: float  # group messages delivered to this node's sessions
    sessions: int  # sessions held (idle + active), heart-beats 10 s


@dataclass(frozen=True)
class DbCommits:
    """The database's commit time by batch size, at the writers count of the run."""

    by_batch: Mapping[int, float]  # batch size -> seconds per commit (p50)
    client_cpu_by_batch: Mapping[int, float]  # batch size -> writer CPU s per batch

    @classmethod
    def from_cases(cls, cases: Sequence[Mapping[str, Any]], writers: int) -> DbCommits:
        """From bench.db_batches cases: the ones with `writers` writers."""
        lat, cpu = {}, {}
        for c in cases:
            if c.get("writers") == writers and c.get("commits_per_s"):
                b = int(c["batch"])
                lat[b] = float(c["commit_latency"]["p50_ms"]) / 1000
                cpu[b] = float(c["client_cpu_s_per_batch"])
        return cls(lat, cpu)

    def commit_s(self, batch: float) -> float:
        """Seconds per commit at `batch` messages, interpolated between measured sizes."""
        return _interp(self.by_batch, batch)

    def max_rate(self) -> tuple[float, int]:
        """(msg/s, batch size): the most one writer stores at any measured batch size."""
        if not self.by_batch:
            return 0.0, 0
        return max((b / c, b) for b, c in self.by_batch.items() if c > 0)

    def batch_formed(self, msgs_per_s: float) -> float:
        """The batch a node's single writer forms: what arrives during one commit (the
        next batch is what queued while the current one was written), at least 1."""
        b = 1.0
        for _ in range(50):
            b = max(1.0, min(msgs_per_s * self.commit_s(b), 1e6))
        return b


def _interp(table: Mapping[int, float], x: float) -> float:
    if not table:
        return 0.0
    keys = sorted(table)
    if x <= keys[0]:
        return table[keys[0]]
    for a, b in itertools.pairwise(keys):
        if x <= b:
            return table[a] + (table[b] - table[a]) * (x - a) / (b - a)
    return table[keys[-1]] * x / keys[-1]


def node_cpu_terms(load: Load) -> dict[str, float]:
    """Core-seconds per second, term by term, as docs/capacity.md's node table adds them."""
    stored = load.private_msgs + load.group_msgs
    records = stored_records(load)
    heard = records * (load.nodes - 1)  # every other node's records; its own are skipped
    return {
        "idle sessions": load.sessions * IDLE_CORE_PER_SESSION,
        "persisted sends": stored * STORED_MSG_S,
        "private deliveries": load.private_deliveries * PRIVATE_DELIVERY_S,
        "group deliveries": load.group_deliveries * GROUP_DELIVERY_S,
        "bridge records decoded": heard * RECORD_DECODE_S,
    }


def stored_records(load: Load) -> float:
    """Bridge records one node publishes per second."""
    return load.private_msgs * RECORDS_PER_PRIVATE + load.group_msgs * RECORDS_PER_GROUP


def predict(load: Load, db: DbCommits | None, share_cores: float) -> dict[str, Any]:
    """Per-node predictions for `load` when the node can use at most `share_cores`."""
    terms = node_cpu_terms(load)
    demand = sum(terms.values())
    offered = load.private_msgs + load.group_msgs
    cpu_per_msg = (demand - terms["idle sessions"]) / offered if offered else 0.0
    if demand <= share_cores or not cpu_per_msg:
        msgs, cpu = offered, demand
    else:
        msgs = max(0.0, share_cores - terms["idle sessions"]) / cpu_per_msg
        cpu = share_cores
    out: dict[str, Any] = {
        "cpu_terms_cores": {k: round(v, 5) for k, v in terms.items()},
        "cpu_demand_pct": round(100 * demand, 2),
        "share_cores": round(share_cores, 3),
        "cpu_pct": round(100 * cpu, 2),
        "stored_msgs_per_s": round(msgs, 1),
        "records_out_per_s": round(stored_records(load) * msgs / offered, 1) if offered else 0,
        "records_in_per_s": round(stored_records(load) * (load.nodes - 1) * msgs / offered, 1)
        if offered else 0,
    }
    if db is not None and db.by_batch:
        top, top_b = db.max_rate()
        if msgs > top:  # the writer cannot keep up: its queue grows, batches are the largest
            out["stored_msgs_per_s"] = round(top, 1)
            out["records_out_per_s"] = round(stored_records(load) * top / offered, 1)
            out["records_in_per_s"] = round(
                stored_records(load) * (load.nodes - 1) * top / offered, 1)
            out["batch_formed"] = top_b
            out["transactions_per_s"] = round(top / top_b, 1)
            out["receipt_p50_ms"] = None
            out["writer"] = "saturated: receipts wait in a growing queue"
            return out
        b = db.batch_formed(msgs)
        c = db.commit_s(b)
        busy = min(1.0, msgs / b * c)  # the writer's busy fraction
        out["batch_formed"] = round(b, 2)
        out["transactions_per_s"] = round(msgs / b, 1)
        # a send waits for the commit in progress (half of one, when the writer is busy)
        # and then for its own; plus about 1 ms of routing and the two loopback hops
        out["receipt_p50_ms"] = round(1000 * (c + busy * c / 2) + 1.0, 2)
    return out


def redis_cpu_pct(records_per_s: float, subscribers: int) -> tuple[float, float]:
    """Redis CPU (% of a core, low and high) for `records_per_s` records in, each written
    to `subscribers` nodes (one pub/sub channel)."""
    mb_out = records_per_s * RECORD_BYTES * subscribers / 1e6
    return (round(100 * mb_out * REDIS_S_PER_MB_OUT[0], 2),
            round(100 * mb_out * REDIS_S_PER_MB_OUT[1], 2))


def verdict(measured: Any, predicted: Any, kind: str) -> dict[str, Any]:
    """Relative error of `measured` against `predicted` and pass/miss within ERRORS[kind]."""
    if not isinstance(measured, (int, float)) or not isinstance(predicted, (int, float)):
        return {"error": None, "allowed": ERRORS[kind], "pass": None}
    if not predicted:
        return {"error": None, "allowed": ERRORS[kind], "pass": measured == 0}
    err = (measured - predicted) / predicted
    return {"error": round(err, 3), "allowed": ERRORS[kind], "pass": abs(err) <= ERRORS[kind]}
