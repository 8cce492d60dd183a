"""The anchors' and the ceiling's own logic: rendered configs, parsing of what the targets
answer, batch-size replay and the report's verdicts. No sockets, no servers: the tests of
the batch log and of the ceiling loop write to a SQLite file through the node's own store."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.__main__ import databases
from bench.activemq import ACTIVEMQ_STOMP_PORT, java_command, render_config
from bench.ceiling import batch_summary, ceiling, replay
from bench.report import table_lines
from bench.report_anchors import anchor_details, anchor_rows, margin
from bench.scenarios.activemq_run import best_round
from bench.scenarios.chat_db import ceiling_ratio, result_key
from bench.scenarios.synapse_run import read_body_stamp, stamp_body, sync_latencies
from bench.stompim_counted import install, read_batch_log
from bench.synapse import RATE_LIMITS, registration_mac
from bench.synapse import render_config as synapse_config
from stompim.store.conversations import ConversationRepository
from stompim.store.database import Database
from stompim.store.messages import MessageRepository, NewMessage
from stompim.store.records import ChatType, MessageDraft
from stompim.store.users import UserRepository

CORE = "{http://activemq.apache.org/schema/core}"


def test_activemq_config_is_one_loopback_stomp_nio_connector_without_persistence() -> None:
    root = ET.fromstring(render_config(61623, Path("/tmp/d a<t>a")))
    broker = root.find(f"{CORE}broker")
    assert broker is not None
    assert broker.get("persistent") == "false" and broker.get("useJmx") == "false"
    assert broker.get("dataDirectory") == "/tmp/d a<t>a"  # quoted, not broken
    uris = [c.get("uri") for c in broker.iter(f"{CORE}transportConnector")]
    assert len(uris) == 1 and uris[0] is not None
    assert uris[0].startswith("stomp+nio://127.0.0.1:61623")


def test_activemq_port_and_heap_stay_clear_of_the_others() -> None:
    assert ACTIVEMQ_STOMP_PORT not in (61613, 61614, 16613, 61616)
    cmd = java_command(Path("/w/activemq.xml"), Path("/w"))
    assert "-Xmx1g" in cmd and "-Xms1g" in cmd
    assert cmd[-2:] == ["start", "xbean:file:/w/activemq.xml"]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_synapse_config_listens_on_loopback_only_with_limits_lifted(
    kind: str, tmp_path: Path
) -> None:
    cfg = json.loads(json.dumps(synapse_config(kind, tmp_path, 18008)))  # YAML-as-JSON
    (listener,) = cfg["listeners"]
    assert listener["bind_addresses"] == ["127.0.0.1"] and listener["port"] == 18008
    assert [r["names"] for r in listener["resources"]] == [["client"]]  # no federation
    assert cfg["presence"] == {"enabled": False} and cfg["trusted_key_servers"] == []
    assert cfg["rc_message"]["per_second"] >= 1_000_000
    assert cfg["rc_login"]["account"]["burst_count"] >= 1_000_000
    assert set(RATE_LIMITS) <= set(cfg)
    db = cfg["database"]
    if kind == "sqlite":
        assert db["name"] == "sqlite3" and db["args"]["database"].startswith(str(tmp_path))
    else:
        assert db["name"] == "psycopg2" and db["args"]["host"] == "127.0.0.1"


def test_synapse_config_refuses_an_unknown_database(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mysql"):
        synapse_config("mysql", tmp_path)


def test_registration_mac_signs_nonce_user_password_and_role() -> None:
    mac = registration_mac("n1", "alice", "pw")
    key = b"stompim-bench-registration-secret"
    assert mac == hmac.new(key, b"n1\x00alice\x00pw\x00notadmin", hashlib.sha1).hexdigest()
    assert registration_mac("n1", "alice", "pw", admin=True) != mac
    assert registration_mac("n2", "alice", "pw") != mac


def test_body_stamp_round_trips_and_rejects_foreign_text() -> None:
    before = time.perf_counter_ns()
    body = stamp_body()["body"]
    assert len(body) == 61  # the same length as stompim's chat content
    stamp = read_body_stamp(body)
    assert stamp is not None and before <= stamp <= time.perf_counter_ns()
    for other in ("hello", "@@12", "@@abcdefghijklmnopqrstu", None, 42):
        assert read_body_stamp(other) is None


def _event(eid: str, stamp: int, kind: str = "m.room.message") -> dict:
    return {"event_id": eid, "type": kind, "content": {"body": f"@@{stamp:019d}xx"}}


def test_sync_latencies_count_each_new_message_once() -> None:
    payload = {
        "rooms": {
            "join": {
                "!a": {"timeline": {"events": [_event("$1", 100), _event("$2", 50)]}},
                "!b": {"timeline": {"events": [_event("$3", 300, "m.room.member")]}},
                "!c": {"timeline": {"events": [_event("$4", 400)]}},
            }
        }
    }
    seen: set[str] = set()
    # $2 was sent before the phase began; $3 is no message
    assert sorted(sync_latencies(payload, 1000, 60, seen)) == [600, 900]
    assert seen == {"$1", "$4"}
    assert sync_latencies(payload, 2000, 60, seen) == []  # the same events again
    assert sync_latencies({"next_batch": "s1"}, 1000, 0, set()) == []


def test_replay_repeats_the_node_batches_up_to_the_total() -> None:
    assert replay([3, 5], 12) == [3, 5, 3, 1]
    assert sum(replay([400, 500, 17], 30_000)) == 30_000
    assert replay([], 10) == [] and replay([0, 0], 10) == [] and replay([4], 0) == []
    assert replay([0, 2], 3) == [2, 1]


def test_batch_summary() -> None:
    assert batch_summary([]) == {"batches": 0}
    s = batch_summary([1, 2, 3, 10])
    assert s["batches"] == 4 and s["messages"] == 16 and s["mean"] == 4.0 and s["max"] == 10


def test_batch_log_lines_are_read_within_the_phase(tmp_path: Path) -> None:
    log = tmp_path / "batches.log"
    log.write_text("1.0 1.1 10\n2.0 2.2 20\nbroken line\n3.0 3.5 x\n4.0 4.1 40\n")
    assert read_batch_log(log, 1.5, 4.0) == [(2.0, 2.2, 20), (4.0, 4.1, 40)]
    assert [n for *_, n in read_batch_log(log)] == [10, 20, 40]
    assert read_batch_log(tmp_path / "missing.log") == []


async def test_counted_launcher_logs_each_write_batch_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stompim.store.messages import MessageRepository

    # restored after the test: install() replaces the method on the class
    monkeypatch.setattr(MessageRepository, "write_batch", MessageRepository.write_batch)
    log = tmp_path / "batches.log"
    out = install(str(log))
    repo = MessageRepository(db=None)  # type: ignore[arg-type]  # an empty batch asks nothing
    t0 = time.monotonic()
    try:
        assert await repo.write_batch([]) == []
        assert await repo.write_batch([]) == []
    finally:
        out.close()
    got = read_batch_log(log)
    assert [n for *_, n in got] == [0, 0]
    assert all(t0 <= a <= b <= time.monotonic() for a, b, _ in got)


async def _private_pair(db: Database) -> tuple[int, int, int]:
    """(sender, receiver, conversation id) of a fresh pair in `db`."""
    users = UserRepository(db)
    a = (await users.create(username="bench_a", password_hash="x", nickname="a")).id
    b = (await users.create(username="bench_b", password_hash="x", nickname="b")).id
    conv = await ConversationRepository(db).ensure_private(a, b, int(time.time() * 1000))
    return a, b, conv.id


async def test_batch_log_counts_a_refused_batch_once_not_its_halves(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a resend inside one batch makes write_batch refuse it and call itself on the halves
    monkeypatch.setattr(MessageRepository, "write_batch", MessageRepository.write_batch)
    a, b, conv = await _private_pair(sqlite_db)
    draft = MessageDraft("text", "hello", None, "client-1")
    item = NewMessage(conv, a, ChatType.PRIVATE, b, draft, int(time.time() * 1000))
    log = tmp_path / "batches.log"
    out = install(str(log))
    try:
        outcomes = await MessageRepository(sqlite_db).write_batch([item, item])
    finally:
        out.close()
    assert [o[1] if isinstance(o, tuple) else o for o in outcomes] == [False, True]
    assert [n for *_, n in read_batch_log(log)] == [2]


async def test_ceiling_loop_writes_the_replayed_batches_through_the_store(
    sqlite_db: Database, tmp_path: Path
) -> None:
    a, b, conv = await _private_pair(sqlite_db)
    url = f"sqlite:///{tmp_path / 'stompim-test.db'}"  # the sqlite_db fixture's file
    res = await ceiling(url, [(a, b)], [3, 2], total=12, duration=30.0)
    assert res["available"] is True and res["messages"] == 12 and res["batches"] == 5
    assert res["batch_sizes"]["mean"] == 2.4
    stored = await sqlite_db.fetch_val(
        "SELECT COUNT(*) FROM chat_message WHERE conversation_id = ?", (conv,)
    )
    assert int(stored) == 12


def test_ratios_and_keys() -> None:
    assert ceiling_ratio(6000, 10000) == 0.6
    assert ceiling_ratio(None, 10000) is None and ceiling_ratio(5, 0) is None
    assert ceiling_ratio(True, 10) is None
    assert result_key("mariadb") == "stompim" and result_key("sqlite") == "stompim-sqlite"


def test_db_choice_per_scenario() -> None:
    assert databases("chat", "both") == ["sqlite", "mariadb"]
    assert databases("synapse", "both") == ["sqlite", "postgresql"]
    assert databases("synapse", "postgresql") == ["postgresql"]
    with pytest.raises(SystemExit):
        databases("chat", "postgresql")


def test_all_with_a_db_synapse_lacks_is_refused_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bench.__main__ as cli

    ran: list[object] = []

    async def record(*args: object) -> None:  # stands in for every runner: nothing is started
        ran.append(args[0])

    async def codec(_ctx: object) -> dict[str, object]:
        ran.append("codec")
        return {}

    for runner in ("run_generic", "run_chat_scenario", "run_im", "run_anchor"):
        monkeypatch.setattr(cli, runner, record)
    monkeypatch.setattr("bench.scenarios.codec_run.run_codec", codec)
    monkeypatch.setattr(cli, "save", lambda *_args: None)
    with pytest.raises(SystemExit, match="synapse takes one of"):
        cli.main(["all", "--quick", "--db", "mariadb", "--no-report"])
    assert ran == []


def test_margin_says_pass_or_miss_and_by_how_much() -> None:
    assert margin(1.8, 1.5) == "**pass** (+20% vs 1.5)"
    assert margin(0.3, 0.6) == "**miss** (-50% vs 0.6)"
    assert margin(25.0, 20, higher_is_better=False) == "**miss** (+25% vs 20)"
    assert margin(None, 1.5) == "not measured" and margin("n/a", 2) == "not measured"


def test_anchor_table_rows_from_results() -> None:
    def run(result: dict) -> dict:
        return {"command": "python -m bench x", "when": "t", "quick": False, "result": result}

    data = {
        "activemq": {"runs": {
            "stompim": run({"throughput": {"msgs_per_s": 90000, "generator_cpu_pct": 40.0}}),
            "activemq": run({"throughput": {"msgs_per_s": 50000}}),
        }},
        "chat": {"runs": {
            "stompim-sqlite": run({"max": {"stored_msgs_per_s": 12000},
                                   "ceiling": {"stored_msgs_per_s": 60000},
                                   "stompim_over_ceiling": 0.2,
                                   "at_5000": {"receipt_latency": {"p99_ms": 15.0}}}),
        }},
        "synapse": {"runs": {
            "synapse-sqlite": run({"stored": {"stored_msgs_per_s": 100.0},
                                   "rates": {"10": {"delivery_latency": {"p99_ms": 40.0}}}}),
            "stompim-sqlite": run({"stored": {"stored_msgs_per_s": 8000},
                                   "rates": {"10": {"delivery_latency": {"p99_ms": 4.0}}}}),
        }},
    }
    text = "\n".join(table_lines([("anchors", anchor_rows(data))]) + anchor_details(data))
    row = next(x for x in text.splitlines() if x.startswith("| 1->1 throughput over STOMP"))
    assert "90,000" in row and "50,000" in row and "1.8" in row and "**pass** (+20% vs 1.5)" in row
    row = next(x for x in text.splitlines() if x.startswith("| persisted chat (SQLite): stored"))
    assert "12,000" in row and "60,000" in row and "**miss** (-67% vs 0.6)" in row
    row = next(x for x in text.splitlines() if "@5000/s" in x and "SQLite" in x)
    assert "**pass**" in row
    row = next(x for x in text.splitlines() if x.startswith("| chat stored msg/s, 64 in flight"))
    assert "8,000" in row and "**pass** (+60% vs 50)" in row
    row = next(x for x in text.splitlines() if x.startswith("| delivery p99 @10 msg/s"))
    assert "**pass** (10x lower)" in row
    assert "n/a" not in row and "not run" in text  # the MariaDB chat row was never run
    assert "| activemq 1->1 | stompim | 40 |" in text


def test_best_round_ignores_failed_rounds() -> None:
    runs = [{"msgs_per_s": 50}, {"error": "Stalled"}, {"msgs_per_s": 90}, {"msgs_per_s": 70}]
    assert best_round(runs) == {"msgs_per_s": 90}
    assert best_round([{"error": "x"}]) == {"error": "x"}
    assert best_round([]) == {"error": "no round ran"}
