"""The floors of src/dnd: every import points down (or stays on its floor), and no modules
import each other in a circle.

Floors, lowest first (a module may import its own floor and the floors below):

    0  dnd, dnd.errors, dnd.fileio, dnd.assets, dnd.artifacts
    1  dnd.tasks       task data: items, builders, the registry
    2  dnd.lora        LoRA settings, attach, adapter files, the in-place swap, averaging,
                       rank concatenation, the training loop; dnd.llamacpp: GGUF adapters, llama.cpp
    3  dnd.zoo         the checkpoint zoo
    4  dnd.generator   prompts -> LoRA (reads the zoo)
    5  dnd.evaluation  scoring, baselines, benchmarks, the demo
    6  dnd.serving     `dnd serve`
    7  dnd.cli         the `dnd` command and the shipped generator's export

Every `import` and `from ... import` counts, wherever it stands: at the top, inside a
function (lazy imports, kept for start-up time) or under `if TYPE_CHECKING`. A module on no
floor (a new top-level module or package) is reported too, so that it gets one.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
FLOORS = (
    ("dnd", "dnd.errors", "dnd.fileio", "dnd.assets", "dnd.artifacts"),
    ("dnd.tasks",),
    ("dnd.lora", "dnd.llamacpp"),
    ("dnd.zoo",),
    ("dnd.generator",),
    ("dnd.evaluation",),
    ("dnd.serving",),
    ("dnd.cli",),
)


def floor_of(module: str) -> int | None:
    """The floor of `module`: that of the longest entry of FLOORS it equals or lies under."""
    best, best_len = None, -1
    for level, names in enumerate(FLOORS):
        for name in names:
            inside = module == name or (module.startswith(name + ".") and name != "dnd")
            if inside and len(name) > best_len:
                best, best_len = level, len(name)
    return best


def source_modules(src: Path = SRC) -> dict[str, str]:
    """{module name: source text} of every .py file of the dnd package under `src`."""
    out = {}
    for path in sorted((src / "dnd").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path.read_text(encoding="utf-8")
    return out


def _imported_names(node: ast.AST, package: str) -> list[str]:
    """The dotted names an import node may import: the module, and each `from` name under it."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:  # relative: `from . import x`, `from ..tasks import items`
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    return [module] + [f"{module}.{alias.name}" for alias in node.names]


def import_graph(modules: dict[str, str], is_package=lambda m: False) -> dict[str, dict[str, int]]:
    """{module: {imported dnd module: first line}} over all Import/ImportFrom nodes of
    each source. `from pkg import name` counts as importing pkg.name where that is a module."""
    graph: dict[str, dict[str, int]] = {}
    for module, text in modules.items():
        package = module if is_package(module) else module.rpartition(".")[0]
        edges = graph.setdefault(module, {})
        for node in ast.walk(ast.parse(text)):
            for name in _imported_names(node, package):
                while name and name not in modules and "." in name:
                    name = name.rpartition(".")[0]  # `from dnd.lora.io import X` -> dnd.lora.io
                if name in modules and name != module:
                    edges.setdefault(name, node.lineno)
    return graph


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    """One line per import of a higher floor, and per module on no floor."""
    problems = []
    for module, edges in sorted(graph.items()):
        here = floor_of(module)
        if here is None:
            problems.append(f"{module}: on no floor (add it to FLOORS in tests/test_layering.py)")
            continue
        for target, line in sorted(edges.items()):
            there = floor_of(target)
            if there is not None and there > here:
                problems.append(f"{module}:{line} (floor {here}) imports {target} (floor {there})")
    return problems


def tangles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The groups of two or more modules that import each other, directly or through one
    another (Tarjan's strongly connected components), each sorted, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the package's size
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One circle [a, b, ..., a] per tangle: a shortest one through its first module."""
    return [_circle(graph, group) for group in tangles(graph)]


def _circle(graph: dict[str, dict[str, int]], group: list[str]) -> list[str]:
    """A shortest path from group[0] back to itself inside `group` (breadth first)."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, {})):
                if w == start:  # v -> start closes it: walk back from v
                    path = [v]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if w in members and w not in came_from:
                    came_from[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no circle through {start}")  # a strongly connected group always has one


def src_graph() -> dict[str, dict[str, int]]:
    modules = source_modules()
    packages = {m for m in modules if (SRC / Path(*m.split(".")) / "__init__.py").exists()}
    return import_graph(modules, is_package=packages.__contains__)


def test_every_import_points_down():
    problems = upward_imports(src_graph())
    assert not problems, "imports of a higher floor:\n" + "\n".join(problems)


def test_no_modules_import_each_other_in_a_circle():
    graph = src_graph()
    found = [f"{' -> '.join(circle)} (the tangle: {', '.join(group)})"
             for circle, group in zip(cycles(graph), tangles(graph))]
    assert not found, "import circles:\n" + "\n".join(found)


def test_the_checker_reports_upward_imports_circles_and_strays():
    modules = {
        "dnd.errors": "",
        "dnd.zoo.build": "def f():\n    from dnd.evaluation.scoring import evaluate_items\n",  # lazy, upward
        "dnd.evaluation.scoring": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import dnd.cli.args\n",
        "dnd.cli.args": "from dnd.errors import DndError\n",  # downward: fine
        "dnd.tasks.registry": "from dnd.tasks import builders\n",
        "dnd.tasks.builders": "from .fetch import read\n",  # relative
        "dnd.tasks.fetch": "def main():\n    from dnd.tasks.registry import load_pools\n",
        "dnd.plugins.extra": "",
    }
    graph = import_graph(modules)
    assert graph["dnd.tasks.builders"] == {"dnd.tasks.fetch": 1}
    assert upward_imports(graph) == [
        "dnd.evaluation.scoring:3 (floor 5) imports dnd.cli.args (floor 7)",
        "dnd.plugins.extra: on no floor (add it to FLOORS in tests/test_layering.py)",
        "dnd.zoo.build:2 (floor 3) imports dnd.evaluation.scoring (floor 5)",
    ]
    assert cycles(graph) == [["dnd.tasks.builders", "dnd.tasks.fetch", "dnd.tasks.registry", "dnd.tasks.builders"]]
    assert cycles(import_graph({"dnd.a": "import dnd.b", "dnd.b": "from dnd import a"})) == [["dnd.a", "dnd.b", "dnd.a"]]


def test_floors():
    assert [floor_of(m) for m in ("dnd", "dnd.fileio", "dnd.lora.io", "dnd.cli.main", "dnd.lorax", "dnd.zoo")] == \
        [0, 0, 2, 7, None, 3]
