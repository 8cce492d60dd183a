"""Helpers of the live-feature end-to-end tests (typing, presence): a second node when
the deployment can bridge (Redis), a person's device on a chosen node, /metrics read."""

from __future__ import annotations

import copy
import urllib.request
from collections.abc import Callable
from typing import Any

from interop._fullnode import FullNode
from prometheus_client.parser import text_string_to_metric_families

from ._actors import Person


def two_nodes(start_node: Callable[..., FullNode], redis: bool, **sections: Any) -> tuple[
    FullNode, FullNode
]:
    """Two nodes over one store when Redis bridges them, else the same node twice."""
    first = start_node(server={"node_id": "node-a"}, **sections)
    if not redis:
        return first, first
    return first, start_node(server={"node_id": "node-b"}, **sections)


def at(person: Person, node: FullNode) -> Person:
    """`person` as seen through `node` (devices connect to that node's port)."""
    view = copy.copy(person)
    view.node = node
    return view


_FAMILIES = {"typing": "stompim_typing_signals_total",
             "presence": "stompim_presence_events_total"}


def metric(node: FullNode, name: str) -> float:
    """`typing_expired` -> stompim_typing_signals_total{outcome="expired"} (likewise
    `presence_*`), read with prometheus_client's parser."""
    url = f"http://127.0.0.1:{node.ports.http}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    kind, _, outcome = name.partition("_")
    family = _FAMILIES[kind]
    for parsed in text_string_to_metric_families(text):
        for sample in parsed.samples:
            if sample.name == family and sample.labels == {"outcome": outcome}:
                return float(sample.value)
    raise AssertionError(f"{family}{{outcome={outcome!r}}} not in /metrics")
