"""The raw forwarding ceiling: websockets + uvloop, no STOMP parsing.

Every figure stompim reaches is also shown as a ratio to this server, the most a
Python process on this machine can forward with the same WebSocket library. It
looks only at the first bytes of each WebSocket message:

- `CONNECT` / `STOMP`  -> a canned CONNECTED (so the same generator works);
- `SUBSCRIBE`           -> the connection joins the set that receives forwards;
- `SEND`                -> the message is forwarded, with its first four bytes
                           replaced by `MESSAGE`, to every subscribed connection
                           except the sender: one WebSocket frame built once and
                           written as is to each transport (no parsing, no per-
                           connection framing);
- `DISCONNECT`          -> close; anything else (heart-beat EOLs) is ignored.

Run: `.venv/bin/python -m bench.raw_server --port 18090` (binds 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

from websockets.asyncio.server import ServerConnection, serve

CONNECTED = b"CONNECTED\nversion:1.2\nheart-beat:0,0\nserver:raw-ceiling\n\n\x00"


def text_frame(payload: bytes) -> bytes:
    """An unmasked server-to-client WebSocket text frame (RFC 6455 section 5.2), built once
    and written as the same bytes to every subscriber: the cheapest possible fan-out."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


class Forwarder:
    """The set of subscribed connections and the per-message rule above."""

    def __init__(self) -> None:
        self.subscribers: set[ServerConnection] = set()

    async def handle(self, ws: ServerConnection) -> None:
        subs = self.subscribers
        try:
            while True:
                msg = await ws.recv(decode=False)
                head = msg[:4]
                if head == b"SEND":
                    if len(subs) == 1 and ws in subs:
                        continue
                    out = text_frame(b"MESSAGE" + msg[4:])
                    for c in subs:
                        if c is not ws:
                            t = c.transport
                            if not t.is_closing():
                                t.write(out)
                elif head == b"CONN" or head == b"STOM":
                    await ws.send(CONNECTED, text=True)
                elif head == b"SUBS":
                    subs.add(ws)
                elif head == b"DISC":
                    break
        except Exception:
            pass
        finally:
            subs.discard(ws)


@contextlib.asynccontextmanager
async def raw_server(host: str, port: int) -> AsyncIterator[int]:
    """Serve on (host, port) while the block runs; yields the bound port (port 0 = any)."""
    fwd = Forwarder()
    async with serve(
        fwd.handle, host, port, subprotocols=["v12.stomp", "v11.stomp", "v10.stomp"],
        ping_interval=None, compression=None, max_size=2**20, max_queue=64,
    ) as server:
        yield int(next(iter(server.sockets)).getsockname()[1])


async def run(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with raw_server(host, port) as bound:
        print(f"raw ceiling server on ws://{host}:{bound}/ws", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18090)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the ceiling server binds loopback only")
    import uvloop

    from bench.limits import raise_own_limit

    raise_own_limit()  # one descriptor per idle session, like the node (stompim/cli.py)
    uvloop.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
