"""What connections that have not finished CONNECT may hold, per connection and node-wide.

A client that is not yet authenticated must not be able to make the node hold memory:
neither one connection streaming frames behind its CONNECT while the password is
checked, nor many connections each holding a partial frame.  So, until a connection's
CONNECTED is sent, every byte it delivers is charged here (what the parser and the
backlog can hold is at most what was received), and released when it is CONNECTED or
gone:

* per connection, at most `stomp.preauth_max_bytes` (one frame's worth by default):
  passing it is ERROR "too much input before CONNECTED" and close;
* node-wide, at most `stomp.preauth_max_total_bytes` over all such connections, and at
  most `stomp.preauth_max_connections` of them at once: passing either is ERROR
  "server busy ..., retry" and close, for the connection that would pass it.

A transport that buffers whole messages itself before handing them over (websockets'
public API) charges its raw reads (`Connection.charge_raw`) instead of the messages,
so what it buffers is bounded too.

Call order: `PreauthBudget(config)` once per broker; `admit()` per new connection
(False: refuse it), `charge(n)` per chunk of a counted connection, `release(n)` with
what that connection was charged, once.
"""

from __future__ import annotations

from stompim.config import StompConfig

__all__ = ["BUSY_BYTES", "BUSY_CONNECTIONS", "PreauthBudget", "too_much_input"]

BUSY_CONNECTIONS = "server busy: too many connections awaiting CONNECT, retry"
BUSY_BYTES = "server busy: too much input awaiting CONNECT, retry"


def too_much_input(limit: int) -> str:
    return f"too much input before CONNECTED (at most {limit} bytes)"


class PreauthBudget:
    __slots__ = ("bytes", "connections", "max_bytes", "max_connections", "max_total_bytes")

    def __init__(self, config: StompConfig) -> None:
        self.max_connections = config.preauth_max_connections
        self.max_bytes = config.preauth_max_bytes
        self.max_total_bytes = config.preauth_max_total_bytes
        self.connections = 0   # counted connections now
        self.bytes = 0         # bytes charged to them now

    def admit(self) -> bool:
        """Count one more connection awaiting CONNECT; False when the node has its
        maximum already (the connection is then refused, and not counted)."""
        if self.connections >= self.max_connections:
            return False
        self.connections += 1
        return True

    def charge(self, held: int, n: int) -> str | None:
        """`n` more bytes for a connection already charged `held`; the ERROR message
        when that passes a limit (the bytes are charged either way)."""
        self.bytes += n
        if held + n > self.max_bytes:
            return too_much_input(self.max_bytes)
        if self.bytes > self.max_total_bytes:
            return BUSY_BYTES
        return None

    def release(self, held: int) -> None:
        """A counted connection is CONNECTED or gone: give back its count and bytes."""
        self.connections -= 1
        self.bytes -= held
