"""The client's address behind trusted proxies (stompim.forwarded): the pure rule."""

from __future__ import annotations

import pytest

from stompim.errors import ConfigError
from stompim.forwarded import TrustedProxies

PROXIES = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8", "::1"])


@pytest.mark.parametrize(("peer", "chain", "client"), [
    # no proxies configured elsewhere: see the next test; here 127.0.0.1 is trusted
    ("127.0.0.1", "203.0.113.7", "203.0.113.7"),
    ("127.0.0.1", None, "127.0.0.1"),
    ("127.0.0.1", "", "127.0.0.1"),
    # the client's own claim left of the real hop is ignored
    ("127.0.0.1", "6.6.6.6, 203.0.113.7", "203.0.113.7"),
    # trusted hops inside the chain are skipped
    ("127.0.0.1", "203.0.113.7, 10.1.2.3", "203.0.113.7"),
    ("::1", "2001:db8::5", "2001:db8::5"),
    ("::ffff:127.0.0.1", "203.0.113.7", "203.0.113.7"),
    ("127.0.0.1", "203.0.113.7:51234", "203.0.113.7"),
    ("127.0.0.1", "[2001:db8::5]:443", "2001:db8::5"),
    # a garbage hop ends the walk at the last good address, never skips past it
    ("127.0.0.1", "203.0.113.7, not-an-ip", "127.0.0.1"),
    ("127.0.0.1", "not-an-ip, 203.0.113.9", "203.0.113.9"),
    # every hop trusted: the left-most
    ("127.0.0.1", "10.9.9.9, 10.1.1.1", "10.9.9.9"),
    # an untrusted peer's header is never believed
    ("198.51.100.1", "203.0.113.7", "198.51.100.1"),
    (None, "203.0.113.7", None),
])
def test_client_ip(peer: str | None, chain: str | None, client: str | None) -> None:
    assert PROXIES.client_ip(peer, chain) == client


def test_no_trusted_proxies_means_the_header_is_ignored() -> None:
    assert TrustedProxies.parse([]).client_ip("127.0.0.1", "203.0.113.7") == "127.0.0.1"


@pytest.mark.parametrize("entry", ["nginx", "10.0.0.0/33", "", "1.2.3.4.5"])
def test_a_bad_entry_is_a_config_error_naming_the_key(entry: str) -> None:
    with pytest.raises(ConfigError, match=r"server\.trusted_proxies"):
        TrustedProxies.parse([entry])
