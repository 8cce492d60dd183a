"""`python -m bench.redis_fanout` — what Redis pub/sub costs when every node hears every node.

The cluster bridge (stompim/cluster/bridge.py) publishes each node's records on one
channel that every node subscribes to, so Redis writes every payload once per node: its
output grows with (total traffic x nodes). docs/capacity.md needs Redis's cost per
delivered payload and per delivered megabyte to say where that single channel saturates.

How it measures, on the local Redis (127.0.0.1:6379), one channel named after this
process so nothing else hears it:
- K subscribers are plain sockets in this process that send SUBSCRIBE once and then only
  count the bytes they receive (no parsing; one recv per up to 1 MiB), so they cost little
  CPU beside Redis;
- the publisher is `redis-benchmark` (C) sending PUBLISH with a payload of P bytes,
  pipelined, a count chosen so that Redis writes about `--out-mb` megabytes per run;
- Redis's own CPU (user + system of the redis-server process) over the run, and the bytes
  every subscriber received, give CPU microseconds per delivered payload and per MB, and
  the payloads/s Redis pushed while doing so.
- the other side of the same channel: the CPU a node spends decoding records it hears
  (`decode_batch` of stompim.cluster.wire on a typical private-chat record, batches of 1
  and 20), which every node pays for every record of the cluster, wanted or not.

Bounded: every run is a bounded count of publishes with a wall-clock timeout. Results go to
bench/results/redis_fanout.json with the command line and the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

RESULTS = Path(__file__).resolve().parent / "results" / "redis_fanout.json"
HOST, PORT = "127.0.0.1", 6379


def redis_pid() -> int:
    out = subprocess.run(["redis-cli", "-h", HOST, "-p", str(PORT), "info", "server"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    for line in out.splitlines():
        if line.startswith("process_id:"):
            return int(line.split(":", 1)[1])
    raise RuntimeError("redis did not report its process_id")


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(p), p))
    return b"".join(out)


class Subscribers:
    """K raw sockets subscribed to one channel, counting what they receive in a thread."""

    def __init__(self, channel: str, count: int) -> None:
        self.socks = []
        for _ in range(count):
            s = socket.create_connection((HOST, PORT), timeout=5)
            s.sendall(_command(b"SUBSCRIBE", channel.encode()))
            s.recv(4096)  # the subscribe confirmation
            s.setblocking(False)
            self.socks.append(s)
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        for s in self.socks:
            sel.register(s, selectors.EVENT_READ)
        buf = bytearray(1 << 20)
        while not self._stop.is_set():
            for key, _ in sel.select(0.1):
                try:
                    n = key.fileobj.recv_into(buf)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                self.received += n
        sel.close()

    def start(self) -> None:
        self._thread.start()

    def wait_for(self, total: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.received < total and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.received >= total

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for s in self.socks:
            s.close()


def one_run(subscribers: int, payload: int, publishes: int, timeout: float) -> dict[str, Any]:
    channel = f"stompim-bench-fanout-{os.getpid()}-{subscribers}-{payload}"
    # What one subscriber receives per publish: the RESP push of
    # ["message", channel, payload].
    per_message = len(_command(b"message", channel.encode(), b"x" * payload))
    subs = Subscribers(channel, subscribers)
    subs.start()
    redis = psutil.Process(redis_pid())
    cpu0 = sum(redis.cpu_times()[:2])
    busy0 = psutil.cpu_times()
    t0 = time.perf_counter()
    bench = subprocess.run(
        ["redis-benchmark", "-h", HOST, "-p", str(PORT), "-n", str(publishes), "-c", "4",
         "-P", "16", "-q", "PUBLISH", channel, "x" * payload],
        capture_output=True, text=True, timeout=timeout)
    delivered_all = subs.wait_for(per_message * publishes * subscribers, timeout)
    wall = time.perf_counter() - t0
    cpu = sum(redis.cpu_times()[:2]) - cpu0
    busy1 = psutil.cpu_times()
    subs.close()
    deliveries = subs.received / per_message
    machine_busy = (sum(busy1) - busy1.idle) - (sum(busy0) - busy0.idle)
    return {
        "subscribers": subscribers,
        "payload_bytes": payload,
        "publishes": publishes,
        "all_delivered": delivered_all,
        "wall_s": round(wall, 3),
        "publishes_per_s": round(publishes / wall),
        "deliveries_per_s": round(deliveries / wall),
        "out_mb_per_s": round(subs.received / wall / 1e6, 1),
        "redis_cpu_pct": round(100 * cpu / wall, 1),
        "redis_cpu_us_per_delivery": round(1e6 * cpu / deliveries, 3) if deliveries else None,
        "redis_cpu_ms_per_mb_out": round(1e3 * cpu / (subs.received / 1e6), 3)
        if subs.received else None,
        "machine_busy_pct_of_one_core": round(100 * machine_busy / wall, 1),
        "redis_benchmark_rc": bench.returncode,
    }


def chat_record() -> Any:
    """A private-chat MESSAGE as the bridge carries it (sizes as the chat path sends)."""
    import orjson

    from stompim.cluster.wire import RemoteMessage

    body = orjson.dumps({
        "id": 123456789, "conversationId": 98765, "seq": 4321, "fromUserId": 1001,
        "toUserId": 2002, "type": "text", "content": "x" * 120, "clientMsgId": "c" * 36,
        "createdAt": "2026-12-02T12:00:00.000Z", "status": "sent"})
    headers = (("message-id", "123456789"), ("content-type", "application/json"),
               ("x-conversation-seq", "4321"), ("x-conversation-id", "98765"),
               ("x-client-msg-id", "c" * 36), ("x-user", "2002"))
    return RemoteMessage("/user/2002/queue/chat/2002", headers, body)


def node_decode_cost() -> list[dict[str, Any]]:
    """Microseconds of CPU a node spends decoding one heard record (best of 5 repeats)."""
    import timeit

    from stompim.cluster.wire import decode_batch, encode_batch

    record = chat_record()
    out = []
    for per_batch in (1, 20):
        payload = encode_batch("node-bench", [record] * per_batch)
        number = 20_000 // per_batch
        best = min(timeit.repeat(lambda p=payload: decode_batch(p), number=number, repeat=5))
        out.append({"records_per_batch": per_batch, "payload_bytes": len(payload),
                    "decode_us_per_record": round(best / number / per_batch * 1e6, 2)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", default="1,4,20", help="comma-separated counts")
    parser.add_argument("--payloads", default="600,8192", help="comma-separated byte sizes")
    parser.add_argument("--out-mb", type=float, default=1500.0,
                        help="megabytes Redis writes per run (sets the publish count; runs "
                        "must last seconds: process CPU times tick at 10 ms)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per run")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    runs = []
    for payload in (int(p) for p in args.payloads.split(",")):
        for k in (int(s) for s in args.subscribers.split(",")):
            publishes = min(1_000_000, max(10_000, int(args.out_mb * 1e6 / (payload * k))))
            run = one_run(k, payload, publishes, args.timeout)
            print(json.dumps(run), flush=True)
            runs.append(run)
    decode = node_decode_cost()
    print(json.dumps(decode), flush=True)
    RESULTS.write_text(json.dumps({
        "command": "python -m bench.redis_fanout " + shlex.join(sys.argv[1:] if argv is None
                                                               else argv),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "redis": subprocess.run(["redis-server", "--version"], capture_output=True,
                                text=True).stdout.strip(),
        "cores": psutil.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "runs": runs,
        "node_decode": decode,
    }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
