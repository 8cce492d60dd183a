"""The load generator's own logic: frame reading, heart-beat negotiation, flow window,
percentiles, profile summaries and the report table. Pure, no sockets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench.load import Flow, Sink, Stalled, send_frame_factory
from bench.measure import percentiles
from bench.profile import summarize
from bench.report import write_report
from bench.wire import (
    StompConn,
    encode,
    header_value,
    negotiated_heartbeat,
    read_stamp,
    stamped_body,
)


def _conn() -> tuple[StompConn, list[bytes], list[bytes]]:
    messages: list[bytes] = []
    receipts: list[bytes] = []
    conn = StompConn(lambda b: None, lambda: None)
    conn.on_message = messages.append
    conn.on_receipt = receipts.append
    return conn, messages, receipts


MSG = (
    b"MESSAGE\ndestination:/topic/a\nmessage-id:T_s@@session-1@@1\n\n@@0000000000000000042xxxx\x00"
)
RCPT = b"RECEIPT\nreceipt-id:123\n\n\x00"


async def test_frames_split_anywhere_and_merged_are_all_read() -> None:
    stream = b"CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\x00\n" + MSG + b"\n" + RCPT + MSG
    for cut in range(1, len(stream)):
        conn, messages, receipts = _conn()
        conn.feed(stream[:cut])
        conn.feed(stream[cut:])
        assert conn.connected.done()
        assert messages == [MSG[:-1], MSG[:-1]]
        assert receipts == [b"123"]


async def test_one_byte_at_a_time() -> None:
    conn, messages, receipts = _conn()
    for b in MSG + RCPT:
        conn.feed(bytes([b]))
    assert len(messages) == 1 and receipts == [b"123"]


async def test_heartbeat_eols_are_counted_not_dispatched() -> None:
    conn, messages, _ = _conn()
    conn.feed(b"\n")
    conn.feed(b"\r\n")
    assert conn.heartbeats == 2 and messages == []


async def test_error_before_connected_fails_the_connect() -> None:
    conn, _, _ = _conn()
    conn.feed(b"ERROR\nmessage:bad login\n\nno\x00")
    with pytest.raises(ConnectionRefusedError, match="bad login"):
        conn.connected.result()


def test_stamp_is_read_from_the_body_not_from_headers() -> None:
    # RabbitMQ's message-id contains "@@": the stamp must come from the body.
    assert read_stamp(MSG) == 42
    body = stamped_body(100, now_ns=7)
    assert len(body) == 100 and read_stamp(b"MESSAGE\n\n" + body) == 7
    assert read_stamp(b"MESSAGE\n\nplain") == -1


def test_send_factory_makes_a_fixed_size_stamped_frame() -> None:
    make = send_frame_factory("/topic/x", 100)
    frame = make()
    head, _, body = frame.partition(b"\n\n")
    assert head.startswith(b"SEND\ndestination:/topic/x")
    assert len(body) == 101 and body.endswith(b"\x00") and read_stamp(frame) > 0


def test_heartbeat_negotiation_follows_the_spec() -> None:
    connected = encode("CONNECTED", {"version": "1.2", "heart-beat": "5000,20000"})
    assert negotiated_heartbeat(connected[:-1], (10000, 10000)) == (20000, 10000)
    assert negotiated_heartbeat(connected[:-1], (0, 10000)) == (0, 10000)
    assert negotiated_heartbeat(b"CONNECTED\n\n", (10000, 10000)) == (0, 0)
    assert header_value(connected, b"version") == b"1.2"


async def test_flow_window_counts_deliveries_per_fanout() -> None:
    flow = Flow(10, per=4)
    flow.sent = 10
    assert flow.inflight() == 10
    for _ in range(4 * 4):
        flow.on_done()
    assert flow.inflight() == 6
    sink = Sink(flow)
    waiter = asyncio.ensure_future(flow.wait_room(2))
    await asyncio.sleep(0)
    sink.on_message(b"MESSAGE\n\n@@0000000000000000001")  # 17 deliveries: 4 whole, 6 out
    await asyncio.sleep(0)
    assert not waiter.done()
    for _ in range(3):
        sink.on_message(b"MESSAGE\n\nx")
    await asyncio.wait_for(waiter, 1)  # 20 deliveries: 5 whole, 5 out <= low (5)
    assert sink.count == 4 and len(sink.samples) == 1


async def test_flow_reports_a_stall() -> None:
    flow = Flow(2)
    flow.sent = 2
    with pytest.raises(Stalled):
        await flow.wait_room(0.05)


def test_percentiles_in_ms() -> None:
    p = percentiles([i * 1_000_000 for i in range(1, 1001)])
    assert p["count"] == 1000 and p["p50_ms"] == 501 and p["p99_ms"] == 991 and p["max_ms"] == 1000
    assert percentiles([]) == {"count": 0}


def test_profile_summary_self_and_inclusive(tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text(
        "main (stompim/cli.py:1);feed (/x/stompim/broker/session.py:10);"
        "parse (/x/stompim/frames/parser.py:5) 3\n"
        "main (stompim/cli.py:1);feed (/x/stompim/broker/session.py:10) 1\n"
    )
    total, selfs, incl = summarize(raw)
    assert total == 4
    assert selfs[0] == ("stompim/frames/parser.py:parse", 75.0)
    assert ("stompim/broker/session.py:feed", 100.0) in incl


def _save(results: Path, scenario: str, target: str, result: dict) -> None:
    path = results / f"{scenario}.json"
    data = json.loads(path.read_text()) if path.exists() else {"scenario": scenario, "runs": {}}
    data["machine"] = {"cpu": "test cpu", "cores": 2, "ram_gb": 1, "python": "3.11"}
    data["runs"][target] = {
        "quick": True,
        "command": f"python -m bench {scenario}",
        "result": result,
    }
    path.write_text(json.dumps(data))


def test_report_ratios_and_verdicts(tmp_path: Path) -> None:
    _save(tmp_path, "throughput", "stompim", {"msgs_per_s": 40000})
    _save(tmp_path, "throughput", "rabbitmq", {"msgs_per_s": 20000})
    _save(tmp_path, "throughput", "raw", {"msgs_per_s": 100000})
    _save(tmp_path, "chat", "stompim", {"available": False, "reason": "no chat"})
    write_report(tmp_path)
    text = (tmp_path / "README.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| 1->1 throughput"))
    assert "40,000" in row and "2.00x" in row and "0.40x" in row and "**miss**" in row
    chat = next(line for line in text.splitlines()
                if line.startswith("| persisted chat (MariaDB): stored msg/s |"))
    assert "n/a: no chat" in chat and "not measured" in chat
    assert "test cpu" in text


def test_report_is_written_from_partial_and_foreign_files(tmp_path: Path) -> None:
    """Files other branches rewrite may be absent, partial or of a new shape: the report is
    still written, each such row saying what it lacks."""
    _save(tmp_path, "idle", "stompim", {"connections": 50_000, "alive_at_end": 50_000,
                                         "kb_per_connection": 18.0, "pss_kb_per_connection": 9.5,
                                         "workers": 2, "generator_cpu_pct": 5.0})
    (tmp_path / "queue_cluster.json").write_text(json.dumps(
        {"command": "python -m bench.queue_cluster", "single_node_memory": {"msg_per_s": 20000},
         "cross_node_redis": {"msg_per_s": 12345}}))
    (tmp_path / "cluster4.json").write_text(json.dumps({"available": True, "check": {}}))
    (tmp_path / "workers.json").write_text(json.dumps({"runs": {"1": {"throughput": {
        "msgs_per_s": 50000}}, "2": {"throughput": {"error": "Stalled: x"}}}}))
    (tmp_path / "search.json").write_text("{not json")
    (tmp_path / "hostile.json").write_text(json.dumps({"floods": [
        {"flood": "queues", "peak_mib": 16.8, "after_mib": 1.4, "peak_bound_mib": 40.0,
         "after_bound_mib": 12.0}]}))
    write_report(tmp_path)
    lines = (tmp_path / "README.md").read_text().splitlines()

    def row(start: str) -> str:
        return next(x for x in lines if x.startswith(start))

    assert "50,000/50,000" in row("| idle WebSocket sessions on one node (2 workers)")
    assert "**pass** (-52% vs 20)" in row("| idle WebSocket session, KB of broker PSS each")
    queue = row("| generic /queue/** across nodes")
    assert "12,345" in queue and "in memory 20,000" in queue and "0.62x" in queue
    assert "error: Stalled" in row("| 1->1 throughput, msg/s, 2 workers")
    assert "not run" in row("| message search")
    assert "**pass** (-58% vs 40)" in row("| hostile: queues: RSS peak")
    assert "not run" in row("| 4-node capacity check") or "—" in row("| 4-node capacity check")
