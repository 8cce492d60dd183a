"""The scale scenarios' own logic (issue 17): loopback source-address rotation, open-file
limits, the heart-beat schedule, the kernel's listen counters and the size options.
No network: the only sockets are bound, never connected."""

from __future__ import annotations

import argparse
import asyncio
import resource
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.limits import FD_RESERVE, FileLimit, missing_room, node_limit, raise_own_limit
from bench.scenarios.idle import HeartBeats, listen_counters
from bench.sizes import add_size_arguments, size_fields
from bench.sources import (
    PER_SOURCE,
    bound_socket,
    ephemeral_port_range,
    pick,
    source_addresses,
    spread,
)
from bench.wire import StompConn

# -- source addresses ---------------------------------------------------------------------


def test_fifty_thousand_sessions_spread_over_five_addresses_from_127_0_0_2() -> None:
    addrs = source_addresses(50_000, ports=28_232)
    assert addrs == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"]
    assert spread(addrs, 50_000) == dict.fromkeys(addrs, 10_000)


def test_a_count_below_one_address_uses_one_and_zero_still_names_one() -> None:
    assert source_addresses(PER_SOURCE, ports=28_232) == ["127.0.0.2"]
    assert source_addresses(PER_SOURCE + 1, ports=28_232) == ["127.0.0.2", "127.0.0.3"]
    assert source_addresses(0, ports=28_232) == ["127.0.0.2"]


def test_rotation_is_round_robin_and_no_address_exceeds_its_share() -> None:
    addrs = source_addresses(25_001, per_source=10_000, ports=28_232)
    counts = dict.fromkeys(addrs, 0)
    for i in range(25_001):
        counts[pick(addrs, i)] += 1
    assert counts == spread(addrs, 25_001)
    assert max(counts.values()) - min(counts.values()) <= 1
    assert max(counts.values()) <= 10_000
    first = [pick(addrs, i) for i in range(4)]
    assert first == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2"]


def test_addresses_carry_across_the_last_octet() -> None:
    assert source_addresses(3, per_source=1, first="127.0.0.254", ports=100) == [
        "127.0.0.254",
        "127.0.0.255",
        "127.0.1.0",
    ]


@pytest.mark.parametrize(
    ("count", "per_source", "first", "ports", "why"),
    [
        (10, 30_000, "127.0.0.2", 28_232, "ephemeral ports"),
        (2, 1, "127.255.255.254", 100, "not a usable loopback"),  # would reach the broadcast
        (2, 1, "10.0.0.1", 100, "not a usable loopback"),
        (1000, 1, "127.0.0.2", 100, "need 1000 addresses"),
        (-1, 1, "127.0.0.2", 100, "count must be"),
        (1, 0, "127.0.0.2", 100, "per_source must be"),
    ],
)
def test_impossible_spreads_are_refused_with_the_reason(
    count: int, per_source: int, first: str, ports: int, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        source_addresses(count, per_source=per_source, first=first, ports=ports)


def test_ephemeral_port_range_reads_the_kernel_file_and_falls_back(tmp_path: Path) -> None:
    f = tmp_path / "range"
    f.write_text("32768\t60999\n")
    assert ephemeral_port_range(str(f)) == 28_232
    f.write_text("garbage\n")
    assert ephemeral_port_range(str(f)) == 28_232
    assert ephemeral_port_range(str(tmp_path / "missing")) == 28_232
    f.write_text("1024 65535\n")
    assert ephemeral_port_range(str(f)) == 64_512


def test_bound_socket_is_bound_to_its_source_address_and_not_connected() -> None:
    sock = bound_socket("127.0.0.3")
    try:
        host, _port = sock.getsockname()
        assert host == "127.0.0.3"
        assert not sock.getblocking()
        with pytest.raises(OSError):
            sock.getpeername()
    finally:
        sock.close()


# -- open-file limits ---------------------------------------------------------------------


def test_raise_own_limit_lifts_the_soft_limit_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(300, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        before, after = raise_own_limit()
        assert before == FileLimit(low, hard)
        assert after == FileLimit(hard, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_node_limit_reads_a_running_process_and_none_for_no_process() -> None:
    import os

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert node_limit(os.getpid()) == FileLimit(soft, hard)
    assert node_limit(None) is None


def test_room_keeps_the_reserve_and_unlimited_is_plenty() -> None:
    assert FileLimit(20_000, 20_000).room() == 20_000 - FD_RESERVE
    assert FileLimit(100, 100).room() == 0
    assert FileLimit(-1, -1).room() > 1_000_000


def test_missing_room_names_the_short_side_the_count_that_fits_and_how_to_raise() -> None:
    limits = {"generator": FileLimit(200_000, 200_000), "stompim": FileLimit(20_000, 20_000)}
    why = missing_room(50_000, limits)
    assert why is not None
    assert "stompim's open-file limit is 20000 (hard 20000)" in why
    assert "generator" not in why
    assert f"--count {20_000 - FD_RESERVE}" in why
    assert "ulimit -Hn" in why and "LimitNOFILE" in why
    assert missing_room(19_000, limits) is None
    assert missing_room(50_000, {"generator": FileLimit(200_000, 200_000), "x": None}) is None


# -- heart-beat schedule --------------------------------------------------------------------


def _conns(n: int) -> list[StompConn]:
    return [StompConn(lambda b: None, lambda: None) for _ in range(n)]


async def test_every_session_is_due_exactly_once_per_interval() -> None:
    beats = HeartBeats(10.0)
    assert beats.slots == 100
    conns = _conns(1234)
    for c in conns:
        beats.add(c)
    due = [id(c) for tick in range(beats.slots) for c in beats.due(tick)]
    assert sorted(due) == sorted(id(c) for c in conns)
    sizes = [len(beats.due(t)) for t in range(beats.slots)]
    assert max(sizes) - min(sizes) <= 1  # spread evenly, no burst
    assert beats.due(0) == beats.due(beats.slots)  # the next interval repeats


async def test_sessions_added_while_running_are_beaten_and_stop_ends_the_loop() -> None:
    beats_of = [0, 0, 0, 0]
    first_beat = asyncio.Event()
    stop = asyncio.Event()

    def sender(k: int) -> Callable[[bytes], None]:
        def send(data: bytes) -> None:
            assert data == b"\n"
            beats_of[k] += 1
            first_beat.set()
            if min(beats_of) >= 2:
                stop.set()

        return send

    beats = HeartBeats(0.2)  # 2 slots of 100 ms
    for k in (0, 1):
        beats.add(StompConn(sender(k), lambda: None))
    task = asyncio.ensure_future(beats.run(stop))
    await asyncio.wait_for(first_beat.wait(), 2)
    for k in (2, 3):  # join a running schedule, as sessions do while the rest still open
        beats.add(StompConn(sender(k), lambda: None))
    await asyncio.wait_for(task, 5)
    assert min(beats_of) == 2 and max(beats_of) <= 3


async def test_no_heart_beats_when_the_server_wants_none() -> None:
    beats = HeartBeats(0.0)
    beats.add(_conns(1)[0])
    await asyncio.wait_for(beats.run(asyncio.Event()), 1)
    assert beats.sent == 0


# -- kernel counters, size options ----------------------------------------------------------


def test_listen_counters_read_the_tcpext_table(tmp_path: Path) -> None:
    f = tmp_path / "netstat"
    f.write_text(
        "TcpExt: SyncookiesSent ListenOverflows ListenDrops TW\n"
        "TcpExt: 1 7 9 3\n"
        "IpExt: InNoRoutes\nIpExt: 0\n"
    )
    assert listen_counters(str(f)) == {"ListenOverflows": 7, "ListenDrops": 9}
    assert listen_counters(str(tmp_path / "missing")) == {}


def test_size_options_reach_the_context_and_refuse_zero() -> None:
    p = argparse.ArgumentParser()
    add_size_arguments(p)
    args = p.parse_args(["--count", "50000", "--members", "10000", "--online", "2000",
                         "--workers", "4", "--generators", "3"])
    assert size_fields(args) == {"count": 50000, "hold_s": None, "members": 10000, "online": 2000,
                                 "workers": 4, "generators": 3}
    with pytest.raises(SystemExit, match="--hold must be at least 1"):
        size_fields(p.parse_args(["--hold", "0"]))
    with pytest.raises(SystemExit, match="--generators must be at least 1"):
        size_fields(p.parse_args(["--generators", "0"]))


# -- report rows ----------------------------------------------------------------------------


def _data(idle: dict, group: dict) -> dict:
    return {
        "idle": {"runs": {"stompim": {"result": idle}}},
        "group": {"runs": {"stompim": {"result": group}}},
    }


def test_idle_row_misses_with_the_limit_that_bounded_the_count_and_passes_at_50000() -> None:
    from bench.report_scale import idle_rows, scale_notes

    limited = {
        "connections": 19_744, "alive_at_end": 19_744, "kb_per_connection": 17.5,
        "requested": 50_000, "limited_by": "50,000 sessions do not fit: ...",
        "open_file_limits": {"stompim": [20_000, 20_000]},
    }
    held, kb = idle_rows(_data(limited, {}))[:2]
    assert held.result == (
        "**miss**: 19,744 of 50,000 held (open-file hard limit 20,000 here), 19,744 of 19,744 alive"
    )
    assert kb.target == "<= 20 KB" and kb.result.startswith("**pass**")
    assert any("what bounded the count" in n for n in scale_notes(_data(limited, {})))
    full = {"connections": 50_000, "alive_at_end": 50_000, "kb_per_connection": 21.0}
    held, kb = idle_rows(_data(full, {}))[:2]
    assert held.result == "**pass**" and kb.result == "**miss** (+5% vs 20)"
    dead = {"connections": 50_000, "alive_at_end": 49_999, "kb_per_connection": 10.0}
    assert idle_rows(_data(dead, {}))[0].result == "**miss**: 49,999 of 50,000 alive"


def test_group_row_names_the_sizes_and_passes_only_when_writes_stay_flat() -> None:
    from bench.report_scale import group_rows

    group = {
        "members": 10_000, "online": 2_000, "o1_db_writes": True,
        "small_10": {"rows_changed_per_msg": 1.49},
        "large": {"rows_changed_per_msg": 1.42, "deliveries_per_s": 150_944},
    }
    rows = group_rows(_data({}, group))
    assert rows[0].figure.startswith("group message, DB rows changed per message (10,000 members,")
    assert rows[0].value == 1.42 and rows[0].result.startswith("**pass**")
    assert rows[2].value == 150_944
    assert group_rows(_data({}, {**group, "o1_db_writes": False}))[0].result.startswith("**miss**")
