"""Loopback source addresses for the generator's client sockets, and binding to them.

Why: every connection from one source address to the node's one listening address
needs its own ephemeral port, and Linux hands out about 28,000 of them
(`net.ipv4.ip_local_port_range`, 32768-60999 by default). 50,000 sessions to one node
therefore need several source addresses. Every address of 127.0.0.0/8 is loopback on
Linux, so the generator spreads its sessions round-robin over 127.0.0.2, 127.0.0.3, ...
(127.0.0.1 is left to everything else running on the machine) and binds each client
socket to its address before connecting. The socket asks the kernel to choose the port
at connect time (`IP_BIND_ADDRESS_NO_PORT`), so a port is only unique per 4-tuple and
the range is not spent by `bind()` alone.

Call order: `addrs = source_addresses(count)` once, then for the i-th session
`sock = bound_socket(pick(addrs, i))`, handed unconnected to the transport, which
connects it.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import sys
from collections.abc import Sequence

FIRST_SOURCE = "127.0.0.2"
PER_SOURCE = 10_000
"""Sessions per source address: well inside the default 28,232-port range, which leaves
room for ports still in TIME_WAIT from a previous run."""
MAX_SOURCES = 254
"""Bound on how many addresses one run may use (127.0.0.2 ... 127.0.1.0 at most)."""

_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux value


def ephemeral_port_range(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> int:
    """How many ephemeral ports the kernel hands out per source address (28,232 if unknown)."""
    try:
        with open(path) as f:
            low, high = (int(v) for v in f.read().split())
    except (OSError, ValueError):
        return 60999 - 32768 + 1
    return max(0, high - low + 1)


def source_addresses(
    count: int,
    per_source: int = PER_SOURCE,
    first: str = FIRST_SOURCE,
    ports: int | None = None,
) -> list[str]:
    """The loopback addresses `count` sessions are spread over: ceil(count / per_source)
    consecutive addresses starting at `first`.

    ValueError when `per_source` does not fit the ephemeral port range (`ports`, read from
    the kernel when None), when an address would leave 127.0.0.0/8 or be its network or
    broadcast address, or when more than MAX_SOURCES addresses would be needed.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if per_source < 1:
        raise ValueError(f"per_source must be >= 1, got {per_source}")
    available = ephemeral_port_range() if ports is None else ports
    if per_source > available:
        raise ValueError(
            f"{per_source} sessions per source address exceed the {available} ephemeral ports"
            " the kernel has per address (net.ipv4.ip_local_port_range)"
        )
    n = max(1, math.ceil(count / per_source))
    if n > MAX_SOURCES:
        raise ValueError(f"{count} sessions at {per_source} per address need {n} addresses")
    loopback = ipaddress.ip_network("127.0.0.0/8")
    start = ipaddress.ip_address(first)
    out = []
    for k in range(n):
        addr = start + k
        if addr not in loopback or addr in (loopback.network_address, loopback.broadcast_address):
            raise ValueError(f"source address {addr} is not a usable loopback address")
        out.append(str(addr))
    return out


def pick(addresses: Sequence[str], i: int) -> str:
    """Round-robin: the source address of the i-th session."""
    return addresses[i % len(addresses)]


def spread(addresses: Sequence[str], count: int) -> dict[str, int]:
    """How many of `count` sessions `pick` puts on each address (for the report)."""
    n = len(addresses)
    return {a: count // n + (1 if k < count % n else 0) for k, a in enumerate(addresses)}


def bound_socket(source: str) -> socket.socket:
    """A non-blocking TCP socket bound to (`source`, any port), not yet connected.

    On Linux the port is chosen at connect() (IP_BIND_ADDRESS_NO_PORT); elsewhere the
    bind picks it, which only costs range sooner.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if sys.platform.startswith("linux"):
            sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((source, 0))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
