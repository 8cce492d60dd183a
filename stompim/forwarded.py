"""The client's address behind reverse proxies (nginx, a load balancer): `TrustedProxies`.

Behind a proxy every connection comes from the proxy's address, so per-IP limits (failed
logins, registrations, SMS codes) would count every client as one. A proxy names the client
in `X-Forwarded-For` (each hop appends the address it received the request from); that
header is only believable where it was written by a proxy we run, so the address is taken
from it only when the connection comes from a configured trusted network, and then the
chain is read from the right, skipping trusted hops: the first untrusted address is the
client (anything further left was written by the client itself and may be forged).

One rule for both listeners that can sit behind a proxy: the REST port (aiohttp,
stompim.http.middlewares) and the WebSocket handshake. Pure: no I/O, no framework types.

Call order: `proxies = TrustedProxies.parse(config.server.trusted_proxies)` once (raises
ConfigError on a bad entry), then `proxies.client_ip(peer, headers.get("X-Forwarded-For"))`
per request or handshake.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from stompim.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = ["TrustedProxies"]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[v6]:port"
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # "v4:port"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies:
        """Addresses or CIDR networks ("127.0.0.1", "10.0.0.0/8", "::1")."""
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ConfigError(
                    f"server.trusted_proxies: {entry!r} is not an address or a network "
                    "(e.g. 127.0.0.1 or 10.0.0.0/8)") from None
        return cls(tuple(networks))

    def trusts(self, address: str | None) -> bool:
        if not self.networks or address is None:
            return False
        parsed = _address(address)
        return parsed is not None and any(parsed in network for network in self.networks)

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address: `peer` unless it is a trusted proxy that forwarded a
        chain, then the right-most address of the chain that is not a trusted proxy (the
        left-most of the chain if every hop is trusted). A malformed entry ends the walk
        at the last good address: nothing a client writes can skip a trusted check."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        client = peer
        for hop in reversed(forwarded_for.split(",")):
            parsed = _address(hop)
            if parsed is None:
                break
            client = str(parsed)
            if not self.trusts(client):
                break
        return client
