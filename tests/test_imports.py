"""The import graph of stompim: which module imports which, read from the source.

Every import counts, wherever it is written: at the top, inside a function (a "late"
import) or under `if TYPE_CHECKING:`, since each of them is a dependency a reader has
to follow.  The checks: the broker (and the codec below it) has no import cycle, and
the layers point one way (DESIGN.md "Layout and the direction of imports").
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import stompim
import stompim.broker

ROOT = Path(stompim.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in ROOT.rglob("*.py")}


def imports_of(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The stompim modules `name` imports (a `from package import module` names the
    module; any other `from X import y` names X)."""
    known = set(known)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.add(candidate if candidate in known else source)
    return {m for m in found if m in known and m != name}


def graph(prefix: str) -> dict[str, set[str]]:
    known = modules()
    inside = {n: p for n, p in known.items() if n == prefix or n.startswith(prefix + ".")}
    return {n: imports_of(n, p, known) for n, p in inside.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in edges:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_reader_sees_late_and_type_checking_imports() -> None:
    known = modules()
    assert "stompim.broker.core" in imports_of(
        "stompim.broker.send", known["stompim.broker.send"], known)
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_broker_has_no_import_cycle() -> None:
    edges = graph("stompim.broker")
    # the package __init__ re-exports the public API: it imports its modules, none
    # imports it back
    assert not [m for m, deps in edges.items() if "stompim.broker" in deps]
    assert cycles(edges) == []


def test_codec_has_no_import_cycle_and_imports_only_the_error_tree() -> None:
    edges = graph("stompim.frames")
    assert cycles(edges) == []
    outside = {d for deps in edges.values() for d in deps if not d.startswith("stompim.frames")}
    assert outside <= {"stompim.errors"}


LEAVING_BROKER = {"stompim.broker.cluster"}
"""The Redis bridge, on its way to a package of its own above broker and store."""


def test_broker_knows_no_im_no_store_no_http() -> None:
    edges = graph("stompim.broker")
    outside = {
        d for module, deps in edges.items() if module not in LEAVING_BROKER
        for d in deps if not d.startswith("stompim.broker")
    }
    allowed = {"stompim.errors", "stompim.frames", "stompim.config"}
    assert outside <= allowed, outside - allowed


def test_broker_modules_follow_the_documented_order() -> None:
    """stompim/broker/__init__.py lists the modules bottom to top: each imports only
    modules listed before it."""
    doc = stompim.broker.__doc__ or ""
    listed = doc.split("tests/test_imports.py):", 1)[1].split(".\n", 1)[0]
    order = [f"stompim.broker.{name.strip()}" for name in listed.replace("\n", " ").split(",")]
    edges = graph("stompim.broker")
    assert set(order) == set(edges) - {"stompim.broker", *LEAVING_BROKER}
    for position, module in enumerate(order):
        later = set(order[position:])
        assert not edges[module] & later, (module, edges[module] & later)
