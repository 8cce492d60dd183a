"""The capacity model's arithmetic (bench/capacity_model.py), the 4-node check's verdicts and
the hostile floods' parser: pure functions, checked on hand-made inputs."""

from __future__ import annotations

import pytest

from bench.capacity_model import (
    IDLE_CORE_PER_SESSION,
    DbCommits,
    Load,
    node_cpu_terms,
    predict,
    redis_cpu_pct,
    verdict,
)
from bench.hostile import parse

LOAD = Load(nodes=4, private_msgs=270, group_msgs=30, private_deliveries=540,
            group_deliveries=1440, sessions=1048)
DB = DbCommits({1: 0.002, 4: 0.003, 16: 0.006, 64: 0.02}, {1: 0.0003})


def test_node_cpu_terms_add_the_model_units() -> None:
    terms = node_cpu_terms(LOAD)
    assert terms["idle sessions"] == pytest.approx(1048 * IDLE_CORE_PER_SESSION)
    assert terms["persisted sends"] == pytest.approx(300 * 106e-6)
    # a private message is two records (both users' queues), a group message one; three
    # other nodes' records are decoded
    assert terms["bridge records decoded"] == pytest.approx((270 * 2 + 30) * 3 * 5.0e-6)


def test_below_its_share_a_node_does_the_offered_work() -> None:
    p = predict(LOAD, DB, share_cores=0.3)
    assert p["stored_msgs_per_s"] == 300
    assert p["cpu_pct"] == p["cpu_demand_pct"]
    assert p["records_out_per_s"] == 570 and p["records_in_per_s"] == 1710
    # 300 msg/s x 2 ms per commit < 1: every send is its own transaction
    assert p["batch_formed"] == 1.0 and p["transactions_per_s"] == 300


def test_above_its_share_a_node_is_capped_and_stores_less() -> None:
    p = predict(LOAD, DB, share_cores=0.03)
    assert p["cpu_pct"] == 3.0
    assert p["stored_msgs_per_s"] < 300


def test_batches_grow_when_arrivals_outrun_one_commit() -> None:
    assert DB.batch_formed(100) == 1.0
    b = DB.batch_formed(2000)  # 2,000/s x 3-6 ms per commit: batches of several
    assert 4 < b < 16
    assert DB.commit_s(8) == pytest.approx(0.003 + 0.003 * 4 / 12)


def test_db_commits_from_the_cases_of_one_writer_count() -> None:
    cases = [
        {"batch": 1, "writers": 4, "commits_per_s": 900.0, "commit_latency": {"p50_ms": 4.0},
         "client_cpu_s_per_batch": 0.0004},
        {"batch": 1, "writers": 1, "commits_per_s": 500.0, "commit_latency": {"p50_ms": 2.0},
         "client_cpu_s_per_batch": 0.0003},
        {"batch": 4, "writers": 4, "commits_per_s": 0, "commit_latency": {}},
    ]
    db = DbCommits.from_cases(cases, writers=4)
    assert dict(db.by_batch) == {1: 0.004}


def test_redis_cpu_and_verdicts() -> None:
    lo, hi = redis_cpu_pct(1000, 4)  # 2.4 MB/s out
    assert (lo, hi) == (0.11, 0.2)
    assert verdict(13.0, 10.0, "cpu") == {"error": 0.3, "allowed": 0.35, "pass": True}
    assert verdict(5.0, 10.0, "cpu")["pass"] is False
    assert verdict(None, 10.0, "cpu")["pass"] is None


def test_hostile_output_is_parsed_with_the_tests_bounds() -> None:
    out = """
[preauth stream] 12 x (CONNECT + 16 x 1 MiB): {'CONNECTED': 12}; RSS 70.1 MiB, peak +9.2 MiB, after +8.0 MiB
.
[preauth partial tcp] 150 x 900 KB: {'x': 113}; the node held at most 32.0 MiB; RSS 71.0 MiB, peak +33.3 MiB
[preauth partial tcp] RSS after they left +0.5 MiB
[queues] 250 x 256 KiB to distinct queues: 187 refused, 63 queues held 15.8 MiB; RSS 70.0 MiB, peak +16.8 MiB, after the TTL +1.4 MiB
"""  # noqa: E501
    floods = {f["flood"]: f for f in parse(out)}
    assert floods["preauth stream"]["peak_mib"] == 9.2
    assert floods["preauth stream"]["after_mib"] == 8.0
    assert floods["preauth partial tcp"]["peak_mib"] == 33.3
    assert floods["preauth partial tcp"]["after_mib"] == 0.5
    assert floods["preauth partial tcp"]["peak_bound_mib"] == 64.0
    assert floods["queues"]["after_mib"] == 1.4 and floods["queues"]["peak_bound_mib"] == 40.0


def test_a_writer_slower_than_the_offered_rate_caps_what_is_stored() -> None:
    slow = DbCommits({1: 0.04, 16: 0.056, 64: 0.25}, {})
    top, b = slow.max_rate()
    assert b == 16 and top == pytest.approx(16 / 0.056)
    p = predict(LOAD, slow, share_cores=0.3)
    assert p["stored_msgs_per_s"] == round(top, 1) and p["receipt_p50_ms"] is None
    assert p["transactions_per_s"] == round(top / 16, 1)
