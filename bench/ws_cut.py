"""The WebSocket fast path's frame cutter (`stompim.broker.ws_fastpath.cut_frames`) alone,
for A/B runs of two source trees: what checking text frames for UTF-8 costs it.

Input: one buffer of masked client frames as a busy connection delivers them (100
frames per read), three kinds: ASCII text STOMP SENDs (100-byte bodies: the common
case, checked with `isascii()` in place), non-ASCII text (the same with "é" in the
body: a UTF-8 decode per frame) and binary frames (not checked).  Printed: ns per frame
and MB/s of payload, best of `--rounds` rounds (CPU time of this process).

    PYTHONPATH=/path/to/before .venv/bin/python -m bench.ws_cut before
    PYTHONPATH=. .venv/bin/python -m bench.ws_cut after
"""

from __future__ import annotations

import argparse
import os
import struct
import time

from stompim.broker.ws_fastpath import cut_frames

FRAMES_PER_READ = 100
READS = 2000


def _masked(payload: bytes, opcode: int) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    return head + mask + masked


def _read_buffer(body: bytes, opcode: int) -> tuple[bytes, int]:
    frame = b"SEND\ndestination:/topic/bench\ncontent-type:text/plain\n\n" + body + b"\x00"
    return _masked(frame, opcode) * FRAMES_PER_READ, len(frame)


def _run(buf: bytes, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(READS):
            payloads, pos, slow = cut_frames(buf, 1 << 21)
        elapsed = time.process_time() - started
        assert len(payloads) == FRAMES_PER_READ and pos == len(buf) and not slow
        best = min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    cases = {
        "ascii text": _read_buffer(b"a" * 100, 0x1),
        "non-ascii text": _read_buffer("é".encode() * 50, 0x1),
        "binary": _read_buffer(b"a" * 100, 0x2),
    }
    for name, (buf, size) in cases.items():
        seconds = _run(buf, args.rounds)
        frames = READS * FRAMES_PER_READ
        print(f"{args.label:8} {name:15} {seconds / frames * 1e9:7.1f} ns/frame "
              f"{frames * size / seconds / 1e6:8.1f} MB/s")


if __name__ == "__main__":
    main()
