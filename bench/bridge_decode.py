"""CPU per bridge record a node hears: decode plus hand-off to the local broker, two trees.

What a node does for every record another node publishes (`RedisBridge._on_payload`):
read the batch head, decode the records, give each to `Broker.deliver_remote`. The
records are private-chat MESSAGEs as the chat path forwards them (destination
``/queue/chat/<uid>``, the eight headers of stompim.stomp.destinations.message_headers,
a ~330-byte JSON body), 20 per PUBLISH as the 4-node run batched them. Cases:

- ``nobody``: no local session subscribes to any record's destination (what 3 of 4
  nodes see for a private message);
- ``subscribed``: one local session subscribes to every record's destination (a fake
  link that drops bytes; the delivery's own cost is included).

Process CPU time (not wall time) per record, best of `--repeats`; the trees alternate,
so both see the same machine load. The "before" tree is `git archive <rev> stompim`
exported to a temporary directory; "after" is this checkout.

    .venv/bin/python -m bench.bridge_decode [--before-rev main] [--records 100000]

Writes bench/results/bridge_decode.json (with the command).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "bridge_decode.json"
PER_BATCH = 20


def _headers(user: int, i: int) -> tuple[tuple[str, str], ...]:
    mid = str(900_000_000 + i)
    return (("message-id", mid), ("x-message-id", mid), ("seq", str(4321 + i)),
            ("x-inbox-seq", str(4321 + i)), ("x-conversation-seq", str(8000 + i)),
            ("conversation-id", "98765"), ("x-sender-id", "1001"),
            ("content-type", "application/json"))


def _body(user: int, i: int) -> bytes:
    return json.dumps({
        "id": 900_000_000 + i, "conversationId": 98765, "seq": 8000 + i,
        "fromUserId": 1001, "toUserId": user, "type": "text", "content": "x" * 120,
        "clientMsgId": "c" * 36, "createdAt": "2026-12-02T12:00:00.000Z",
        "status": "sent"}, separators=(",", ":")).encode()


class _NullLink:
    def write(self, chunks: list[tuple[bytes, bool]]) -> None:
        return None

    def buffered(self) -> int:
        return 0

    def close(self) -> None:
        return None

    def abort(self) -> None:
        return None

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


async def _child_case(subscribed: bool, records: int, repeats: int) -> float:
    """Best CPU microseconds per record heard, in the tree on sys.path."""
    from stompim.broker import Broker, StaticAuthenticator
    from stompim.cluster import RedisBridge
    from stompim.cluster.wire import RemoteMessage, encode_batch
    from stompim.config import Config
    from stompim.frames import Command, Frame, encode
    from stompim.store.kv_memory import MemoryKeyValue

    users = {f"u{i}": (2000 + i, "p") for i in range(PER_BATCH)}
    config = Config().replace(stomp={"heartbeat_send_ms": 0, "heartbeat_receive_ms": 0}).stomp
    broker = Broker(config, StaticAuthenticator(users), node_id="here")
    if subscribed:
        for i in range(PER_BATCH):
            feed = broker.accept(_NullLink(), websocket=True).receive
            feed(encode(Frame.build(Command("CONNECT"), {
                "accept-version": "1.2", "login": f"u{i}", "passcode": "p"})))
            for _ in range(20):
                await asyncio.sleep(0)
            feed(encode(Frame.build(Command("SUBSCRIBE"), {
                "destination": "/user/queue/chat", "id": "1"})))
        await asyncio.sleep(0)
    bridge = RedisBridge(MemoryKeyValue(), "here")
    bridge.attach(broker)
    payloads = [
        encode_batch("there", [
            RemoteMessage(f"/queue/chat/{2000 + i}", _headers(2000 + i, b * PER_BATCH + i),
                          _body(2000 + i, b * PER_BATCH + i))
            for i in range(PER_BATCH)])
        for b in range(50)]
    on_payload = bridge._on_payload
    batches = records // PER_BATCH
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        cpu = time.process_time()
        for n in range(batches):
            on_payload(payloads[n % 50])
            if n % 50 == 49:
                await asyncio.sleep(0)   # the broker's flush pass for subscribed sessions
        await asyncio.sleep(0)
        best = min(best, time.process_time() - cpu)
    assert bridge.stats.records_in == batches * PER_BATCH * repeats
    await broker.close()
    return best / (batches * PER_BATCH) * 1e6


def _child(records: int, repeats: int) -> None:
    out = {case: asyncio.run(_child_case(case == "subscribed", records, repeats))
           for case in ("nobody", "subscribed")}
    print(json.dumps(out))


def _export(rev: str, into: str) -> str:
    data = subprocess.run(["git", "archive", rev, "stompim"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()


def _run_tree(tree: str, records: int, repeats: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=tree)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child",
         "--records", str(records), "--repeats", str(repeats)],
        env=env, cwd=tree, check=True, capture_output=True, text=True, timeout=300)
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-rev", default="main")
    parser.add_argument("--records", type=int, default=100_000, help="per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the trees")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.records, args.repeats)
        return 0
    after_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                               check=True, capture_output=True, text=True).stdout.strip()
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bridge-decode-") as tmp:
        before_rev = _export(args.before_rev, tmp)
        for _ in range(args.rounds):
            for label, tree in (("before", tmp), ("after", str(ROOT))):
                runs[label].append(_run_tree(tree, args.records, args.repeats))
                print(label, runs[label][-1], flush=True)
    best = {label: {case: round(min(r[case] for r in rs), 2) for case in rs[0]}
            for label, rs in runs.items()}
    speedup = {case: round(best["before"][case] / best["after"][case], 2)
               for case in best["after"]}
    print("best us/record", best, "speed-up", speedup, flush=True)
    RESULTS.write_text(json.dumps({
        "command": "python -m bench.bridge_decode " + shlex.join(
            sys.argv[1:] if argv is None else argv),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "before": f"{args.before_rev} ({before_rev}), git archive of stompim/",
        "after": f"this checkout ({after_rev} plus any uncommitted change)",
        "records_per_batch": PER_BATCH,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "us_per_record_cpu_best": best,
        "speedup": speedup,
        "runs_us_per_record": runs,
    }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
