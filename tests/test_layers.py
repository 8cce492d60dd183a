"""The import graph of stompim: imports run one way, and no module imports itself back.

DESIGN.md: frames <- broker <- stomp (the STOMP binding) <- app; store <- im <- (http,
stomp); errors at the bottom. The graph is read from the source (every `import` and
`from ... import`, late ones inside functions and TYPE_CHECKING ones included: a late
import still ties two modules together), so the check needs no import side effects.

Reusable: `import_graph()`, `layer_violations()` and `cycles()` take any package and any
layer table; other areas add their own rules by calling them (e.g. a finer table inside
broker/).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import stompim

PACKAGE_DIR = Path(stompim.__file__).parent

FOUNDATION = frozenset({"", "errors", "logs", "metrics", "rate_limited_log", "forwarded"})
"""What every layer may import: the package itself (its version), the error tree, the
logging helpers, the metric families and the trusted-proxy rule, which import nothing of
stompim but the error tree."""

_CORE = FOUNDATION | {"frames", "broker", "store", "im", "config"}

LAYERS: dict[str, frozenset[str]] = {
    # layer (a top-level module or package of stompim) -> the layers it may import
    "": frozenset(),  # the package's own __init__
    "errors": frozenset(),
    "logs": frozenset(),
    "metrics": frozenset(),
    "rate_limited_log": frozenset(),
    "forwarded": frozenset({"errors"}),
    "config": FOUNDATION,
    "frames": FOUNDATION,
    "store": FOUNDATION,
    "broker": FOUNDATION | {"frames", "config"},
    "im": FOUNDATION | {"store", "config"},
    "http": FOUNDATION | {"im", "store", "config"},
    "stomp": _CORE,
    "cluster": FOUNDATION | {"broker", "store"},
    "app": _CORE | {"stomp", "cluster", "http"},
    "cli": _CORE | {"stomp", "cluster", "http", "app"},
    "__main__": frozenset({"cli"}),
}

ALLOWED_CYCLES: frozenset[frozenset[str]] = frozenset(
    {
        # backend factories: the interface module opens its backends lazily
        frozenset({"stompim.store.database", "stompim.store._sqlite", "stompim.store._mysql"}),
        frozenset({"stompim.store.kv", "stompim.store.kv_memory", "stompim.store.kv_redis"}),
    }
)


# ----------------------------------------------------------------------------- checker


def module_names(package_dir: Path, package: str) -> dict[str, Path]:
    """Every module of the package by dotted name (`pkg.sub` for `pkg/sub/__init__.py`)."""
    out = {}
    for path in package_dir.rglob("*.py"):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join([package, *parts])] = path
    return out


def import_graph(package_dir: Path, package: str) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports (see the module docstring)."""
    modules = module_names(package_dir, package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:  # a submodule by name, else the module itself
                    full = f"{source}.{alias.name}"
                    targets.add(full if full in modules else source)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def layer_of(module: str, package: str) -> str:
    """`stompim.im.chat` -> "im"; `stompim` -> ""."""
    rest = module[len(package):].lstrip(".")
    return rest.split(".", 1)[0]


def layer_violations(
    graph: Mapping[str, Iterable[str]], package: str, layers: Mapping[str, frozenset[str]]
) -> list[str]:
    """Every import from a layer to one it may not use (and modules of no known layer)."""
    problems = []
    for module, targets in sorted(graph.items()):
        source = layer_of(module, package)
        if source not in layers:
            problems.append(f"{module}: layer {source!r} is not in the layer table")
            continue
        for target in sorted(targets):
            dest = layer_of(target, package)
            if dest != source and dest not in layers[source]:
                problems.append(f"{module} imports {target} ({source} may not use {dest})")
    return problems


def cycles(graph: Mapping[str, Iterable[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


# ------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(PACKAGE_DIR, "stompim")


def test_imports_follow_the_layer_table(graph: dict[str, set[str]]) -> None:
    assert layer_violations(graph, "stompim", LAYERS) == []


def test_no_import_cycles_outside_the_broker(graph: dict[str, set[str]]) -> None:
    found = [
        sorted(c) for c in cycles(graph)
        if c not in ALLOWED_CYCLES and not all(m.startswith("stompim.broker.") for m in c)
    ]
    assert found == []


def test_no_import_cycles_in_the_broker(graph: dict[str, set[str]]) -> None:
    assert [sorted(c) for c in cycles(graph) if c not in ALLOWED_CYCLES] == []


def test_the_im_domain_knows_no_binding(graph: dict[str, set[str]]) -> None:
    """The rule the layer table encodes, spelled out: no STOMP, no HTTP, no broker in im."""
    for module, targets in graph.items():
        if layer_of(module, "stompim") in ("im", "store"):
            assert not {layer_of(t, "stompim") for t in targets} & {
                "broker", "stomp", "http", "frames", "cluster", "app"
            }, module


def test_the_checker_finds_what_it_is_for() -> None:
    """The checks above can fail: a made-up graph with one bad arrow and one cycle."""
    made_up = {
        "p.store.a": {"p.im.b"},  # store may not use im
        "p.im.b": {"p.store.a", "p.im.c"},
        "p.im.c": {"p.im.b"},
    }
    layers = {"store": frozenset(), "im": frozenset({"store"})}
    assert layer_violations(made_up, "p", layers) == [
        "p.store.a imports p.im.b (store may not use im)"
    ]
    assert cycles(made_up) == [frozenset({"p.store.a", "p.im.b", "p.im.c"})]


def test_the_graph_sees_late_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "q"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "one.py").write_text("from . import two\n")
    (pkg / "sub" / "two.py").write_text("def f():\n    from q.three import x\n")
    (pkg / "three.py").write_text("from typing import TYPE_CHECKING\n"
                                  "if TYPE_CHECKING:\n    from .sub import one\n")
    assert import_graph(pkg, "q") == {
        "q": set(),
        "q.sub": set(),
        "q.sub.one": {"q.sub.two"},
        "q.sub.two": {"q.three"},
        "q.three": {"q.sub.one"},
    }
