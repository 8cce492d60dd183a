"""The broker's own layers, finer than tests/test_layers.py's table: its modules run
bottom to top in the order stompim/broker/__init__.py documents, each importing only
modules listed before it (so there is no cycle inside broker/, with every import
counted: late ones and TYPE_CHECKING ones too)."""

from __future__ import annotations

from test_layers import PACKAGE_DIR, import_graph

import stompim.broker


def documented_order() -> list[str]:
    doc = stompim.broker.__doc__ or ""
    listed = doc.split("test_module_order.py):", 1)[1].split(".\n", 1)[0]
    return [f"stompim.broker.{name.strip()}" for name in listed.replace("\n", " ").split(",")]


def test_broker_modules_import_only_modules_below_them() -> None:
    graph = import_graph(PACKAGE_DIR, "stompim")
    broker = {m: deps for m, deps in graph.items() if m.startswith("stompim.broker.")}
    order = documented_order()
    assert set(order) == set(broker)
    for position, module in enumerate(order):
        above = {d for d in broker[module] if d.startswith("stompim.broker")} & set(
            order[position:])
        assert not above, (module, above)
    # the package __init__ re-exports the public API: nothing inside imports it back
    assert not [m for m, deps in broker.items() if "stompim.broker" in deps]
