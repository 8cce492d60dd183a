"""The split idle run (bench.scenarios.idle_split, bench.idle_gen, bench.node_memory):
shares, source addresses, what fits, the node's options, memory and sessions read
from /proc, and a generator's liveness count."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from bench.idle_gen import SWEEP_SLACK_S, liveness
from bench.limits import FD_RESERVE
from bench.node_memory import per_process_delta, sessions_on, smaps_rollup, snapshot, totals
from bench.scenarios.idle_split import WORKER_HEADROOM, fit, node_options, plan_sources, split
from bench.sources import PER_SOURCE
from bench.targets import Options
from bench.wire import StompConn


def test_shares_differ_by_one_at_most_and_add_up() -> None:
    assert split(50_000, 4) == [12_500] * 4
    assert split(10, 3) == [4, 3, 3]
    assert sum(split(49_999, 7)) == 49_999


def test_each_generator_gets_addresses_of_its_own_within_the_per_address_share() -> None:
    shares = split(50_000, 4)
    plan = plan_sources(shares)
    assert plan == [["127.0.0.2", "127.0.0.3"], ["127.0.0.4", "127.0.0.5"],
                    ["127.0.0.6", "127.0.0.7"], ["127.0.0.8", "127.0.0.9"]]
    for share, addrs in zip(shares, plan, strict=True):
        assert share <= len(addrs) * PER_SOURCE
    assert plan_sources([5, 0]) == [["127.0.0.2"], ["127.0.0.3"]]


def test_fit_keeps_headroom_on_the_workers_and_says_what_bounded_it() -> None:
    room = 20_000 - FD_RESERVE
    assert fit(50_000, 4, 4, room, room) == (50_000, None)
    n, why = fit(50_000, 2, 4, room, room)
    assert n == 2 * int(room * WORKER_HEADROOM)
    assert why is not None and "2 node processes" in why and "--workers" in why
    n, why = fit(50_000, 4, 2, room, room)
    assert n == 2 * room and why is not None and "2 generators" in why
    assert fit(1000, 1, 1, None, room) == (1000, None)


def test_a_node_of_several_workers_is_joined_through_redis_under_its_own_prefix() -> None:
    base = Options(extra_env=(("X", "1"),))
    assert node_options(base, 1) is base
    env = dict(node_options(base, 4).extra_env)
    assert env["X"] == "1" and env["STOMPIM_SERVER_WORKERS"] == "4"
    assert env["STOMPIM_REDIS_URL"].startswith("redis://")
    assert env["STOMPIM_REDIS_CHANNEL_PREFIX"] == f"benchidle{os.getpid()}"


def test_smaps_rollup_is_read_in_bytes_and_missing_is_empty(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "smaps_rollup").write_text(
        "55d0-7ffd ---p 00000000 00:00 0  [rollup]\nRss:  2048 kB\nPss:  1024 kB\n"
        "Pss_Anon:  512 kB\nPrivate_Clean:  100 kB\nPrivate_Dirty:  400 kB\n")
    assert smaps_rollup(7, root=str(tmp_path)) == {
        "rss": 2048 * 1024, "pss": 1024 * 1024, "uss": 500 * 1024}
    assert smaps_rollup(8, root=str(tmp_path)) == {}


def test_this_process_is_a_single_process_node_whose_sessions_are_counted() -> None:
    """A real listener and three connections to it: the process holding the accepted
    sockets is counted as holding three sessions on that port, none on another."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        before = snapshot(os.getpid())
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        accepted = [listener.accept()[0] for _ in clients]
        try:
            after = snapshot(os.getpid())
            [me] = after
            assert me.role == "node" and me.rss > 0 and me.pss > 0 and me.fds > 0
            held = sessions_on(after, port)
            assert held == {os.getpid(): 3}
            assert sessions_on(after, port + 1 if port < 65535 else port - 1) == {os.getpid(): 0}
            [row] = per_process_delta(before, after, held)
            assert row["sessions"] == 3 and row["descriptors_added"] == 6
            assert totals(after)["processes"] == 1
        finally:
            for s in clients + accepted:
                s.close()


def test_a_gone_process_has_no_snapshot() -> None:
    assert snapshot(2**22 + 12345) == []


async def test_liveness_counts_open_sessions_heard_within_the_interval() -> None:
    conns = [StompConn(lambda b: None, lambda: None) for _ in range(4)]
    now = 1000.0
    conns[0].last_rx = now - 2.0                        # heard recently
    conns[1].last_rx = now - (10.0 + SWEEP_SLACK_S + 1)  # only within the looser margin
    conns[2].last_rx = now - 2.0
    conns[2].lost(None)                                  # closed: not alive
    conns[3].last_rx = now - 60.0                        # silent far too long
    conns[0].feed(b"\n")
    conns[0].last_rx = now - 2.0
    got = liveness(conns, (10000, 10000), now)
    assert got["alive"] == 3 and got["sessions"] == 4
    assert got["heard_within_interval"] == 1
    assert got["heard_within_margin"] == 2
    assert got["oldest_rx_age_s"] == 60.0
    assert got["never_heard_a_server_heartbeat"] == 3
    assert got["server_heartbeats_received"] == 1
    none = liveness(conns, (10000, 0), now)
    assert none["heard_within_interval"] is None and none["alive"] == 3
    assert isinstance(conns[2].connected.exception(), ConnectionError)  # closed unconnected
