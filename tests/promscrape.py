"""A /metrics answer read by prometheus_client's own text parser, for tests that check
what a node exposes (tests/http/test_http_metrics.py, the fault tests)."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Scrape", "scrape"]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Scrape:
    """One /metrics answer, parsed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples: Samples = {}
        for family in self.families.values():
            for sample in family.samples:
                self.samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """A sample's value (0 when absent: a labelled counter not yet moved)."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum of `name` over every series whose labels include `labels`."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= set(ls))

    def has_family(self, name: str) -> bool:
        """Present, with its HELP and TYPE lines (a counter's family drops `_total`)."""
        base = name.removesuffix("_total")
        family = self.families.get(base)
        return (
            family is not None and bool(family.documentation)
            and f"# HELP {name} " in self.text and f"# TYPE {name} " in self.text
        )


async def scrape(session: aiohttp.ClientSession, port: int) -> Scrape:
    """GET /metrics of the node whose REST port is `port`."""
    async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return Scrape(await resp.text())
