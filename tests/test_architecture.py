"""No import cycle and no upward import in src/pharmcheck, checked against the layer table of
ARCHITECTURE.md (the one place it is written down). Every import counts, function-local ones
too; only those under `if TYPE_CHECKING:` are exempt (they never run)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
PACKAGE = "pharmcheck"


@dataclass(frozen=True)
class Layers:
    rank: dict[str, int]  # room (dotted name under pharmcheck; "" for the package root) -> layer, lowest 0
    allowed: frozenset[tuple[str, str]]  # (importer room, imported room): the documented upward edges

    def room_of(self, module: str) -> str | None:
        """The longest room that prefixes `module`; None when the table does not place it."""
        parts = module.split(".")[1:]
        for n in range(len(parts), 0, -1):
            room = ".".join(parts[:n])
            if room in self.rank:
                return room
        return "" if not parts and "" in self.rank else None


def parse_layers(markdown: str) -> Layers:
    """The ```text block after `<!-- layers -->`: a layer a line ("name room room ..."), lowest
    first, and an `allowed` line of "room->room" upward edges."""
    block = re.search(r"<!-- layers -->\s*```text\n(.*?)```", markdown, re.S)
    assert block, "ARCHITECTURE.md has no layer table"
    rank: dict[str, int] = {}
    allowed: set[tuple[str, str]] = set()
    layer = 0
    for line in block.group(1).splitlines():
        name, *rooms = line.split()
        if name == "allowed":
            for edge in rooms:
                importer, _, imported = edge.partition("->")
                allowed.add((importer, imported))
            continue
        for room in rooms:
            key = "" if room == PACKAGE else room
            assert key not in rank, f"room {room} is in two layers"
            rank[key] = layer
        layer += 1
    return Layers(rank, frozenset(allowed))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(source: str, module: str, is_package: bool, known: Iterable[str]) -> set[str]:
    """The pharmcheck modules `source` imports anywhere (module level, functions, classes),
    except under `if TYPE_CHECKING:`. `from X import name` counts as importing X.name when that
    is a module, else X."""
    modules = set(known)
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package `level - 1` above this one's
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


def import_graph(root: Path = SRC / PACKAGE) -> dict[str, set[str]]:
    files = {module_name(p): p for p in sorted(root.rglob("*.py"))}
    return {name: imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", files) - {name}
            for name, path in files.items()}


def violations(graph: Mapping[str, Iterable[str]], layers: Layers) -> list[str]:
    """Everything wrong with `graph` (module -> modules it imports) under `layers`: modules the
    table does not place, upward imports, and cycles between modules or between rooms."""
    problems: list[str] = []
    edges: dict[str, set[str]] = {}
    for module, imported in graph.items():
        room = layers.room_of(module)
        if room is None:
            problems.append(f"{module}: in no room of ARCHITECTURE.md's layer table")
            continue
        edges[module] = set()
        for target in sorted(imported):
            target_room = layers.room_of(target)
            if target_room is None:
                continue  # reported as a module of its own
            if (room, target_room) in layers.allowed:
                continue
            if layers.rank[target_room] > layers.rank[room]:
                problems.append(f"{module} imports {target}: layer {room or PACKAGE} is below {target_room}")
            edges[module].add(target)
    for cycle in _cycles(edges):
        problems.append("import cycle between modules: " + " -> ".join(cycle))
    rooms: dict[str, set[str]] = {}
    for module, targets in edges.items():
        room = layers.room_of(module) or ""
        rooms.setdefault(room, set()).update(r for t in targets if (r := layers.room_of(t) or "") != room)
    for cycle in _cycles(rooms):
        problems.append("import cycle between rooms: " + " -> ".join(r or PACKAGE for r in cycle))
    return problems


def _cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that returns to its start) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def strongconnect(node: str) -> None:  # Tarjan
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                strongconnect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(edges):
        if node not in index:
            strongconnect(node)
    cycles = []
    for component in components:
        start = min(component)
        path, seen = [start], {start}
        while True:  # walk inside the component until a node repeats
            nxt = min(n for n in edges[path[-1]] if n in component)
            if nxt in seen:
                cycles.append([*path[path.index(nxt):], nxt])
                break
            path.append(nxt)
            seen.add(nxt)
    return cycles


LAYERS = parse_layers((REPO / "ARCHITECTURE.md").read_text(encoding="utf-8"))


def test_the_package_has_no_upward_import_and_no_cycle() -> None:
    assert violations(import_graph(), LAYERS) == []


def test_every_room_of_the_table_is_a_real_module_or_package() -> None:
    present = {module_name(p) for p in (SRC / PACKAGE).rglob("*.py")}
    missing = [room for room in LAYERS.rank if room and f"{PACKAGE}.{room}" not in present]
    assert missing == []


@pytest.mark.parametrize(("graph", "expected"), [
    # extract importing networks: a lower stage reaching up
    ({"pharmcheck.extract": {"pharmcheck.networks.cluster"}, "pharmcheck.networks.cluster": set()},
     ["pharmcheck.extract imports pharmcheck.networks.cluster: layer extract is below networks"]),
    # two modules of one room importing each other
    ({"pharmcheck.rules.a": {"pharmcheck.rules.b"}, "pharmcheck.rules.b": {"pharmcheck.rules.a"}},
     ["import cycle between modules: pharmcheck.rules.a -> pharmcheck.rules.b -> pharmcheck.rules.a"]),
    # two rooms of one layer importing each other through different modules
    ({"pharmcheck.cli.x": {"pharmcheck.api"}, "pharmcheck.api": {"pharmcheck.cli.y"}, "pharmcheck.cli.y": set()},
     ["import cycle between rooms: api -> cli -> api"]),
    # a module the table does not place
    ({"pharmcheck.plugins": set()}, ["pharmcheck.plugins: in no room of ARCHITECTURE.md's layer table"]),
    # the documented exception is not reported
    ({"pharmcheck.check": {"pharmcheck.api"}, "pharmcheck.api": set()}, []),
])
def test_the_checker_catches_a_synthetic_violation(graph: dict[str, set[str]], expected: list[str]) -> None:
    assert violations(graph, LAYERS) == expected


def test_function_local_imports_count_and_type_checking_ones_do_not() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pharmcheck.audit.store import Store\n"
        "def f():\n    from pharmcheck.report import text\n    import pharmcheck.cli\n"
        "from . import sibling\n"
    )
    known = {"pharmcheck.report.text", "pharmcheck.networks.sibling"}
    assert imports_of(source, "pharmcheck.networks.x", False, known) == {
        "pharmcheck.report.text", "pharmcheck.cli", "pharmcheck.networks.sibling"}
