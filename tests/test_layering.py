"""The import graph of the project's packages has no cycle, counting imports
inside functions too: a part never needs the part that needs it. Units are
`evals`, `bench.jobs.evaluate`, each sub-package of `bench` and each top-level
module of `bench`."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("bench", "evals")
# Evaluates a sweep's run through its store, whose schema holds the columns the metrics declare:
# it sits above the results store, the rest of evals below it.
EVALS_ABOVE_THE_STORE = ("bench.jobs.evaluate",)


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(name: str) -> bool:
    base = REPO.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _unit(module: str) -> str:
    """evals as one (but for bench.jobs.evaluate); bench.<sub-package> or bench.<module>."""
    parts = module.split(".")
    if parts[0] == "evals":
        return module if module in EVALS_ABOVE_THE_STORE else "evals"
    return ".".join(parts[:2])


def _imported(path: Path, module: str):
    """Every project module `path` imports, wherever in the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = [source] + [f"{source}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and not _exists(name):  # `from x import f`: f is a name in x, not a module
                name = name.rpartition(".")[0]
            if name.split(".")[0] in PACKAGES:
                yield name, node.lineno


def import_graph() -> dict[tuple[str, str], list[str]]:
    """(unit, unit it imports) -> the import lines that make the edge."""
    edges: dict[tuple[str, str], list[str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            module = _module(path)
            for target, line in _imported(path, module):
                if _unit(module) != _unit(target):
                    edges.setdefault((_unit(module), _unit(target)), []).append(f"{module}:{line} -> {target}")
    return edges


def find_cycle(edges) -> list[str] | None:
    """One cycle of the graph as a path of units (first == last), or None."""
    successors: dict[str, set[str]] = {}
    for a, b in edges:
        successors.setdefault(a, set()).add(b)
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(unit: str) -> list[str] | None:
        state[unit] = "open"
        path.append(unit)
        for nxt in sorted(successors.get(unit, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[unit] = "done"
        return None

    for unit in sorted(successors):
        if unit not in state and (cycle := visit(unit)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({("a", "b"): [], ("b", "c"): [], ("a", "c"): []}) is None
    assert find_cycle({("a", "b"): [], ("b", "c"): [], ("c", "a"): [], ("c", "d"): []}) == ["a", "b", "c", "a"]


def test_the_packages_import_one_way():
    edges = import_graph()
    assert ("bench.commands", "bench.jobs.sweep") in edges  # the graph is read
    assert ("bench.jobs.evaluate", "bench.jobs.sweep") in edges and ("bench.jobs.sweep", "evals") in edges
    cycle = find_cycle(edges)
    lines = [line for a, b in zip(cycle, cycle[1:]) for line in edges[(a, b)]] if cycle else []
    assert cycle is None, f"import cycle {' -> '.join(cycle)}:\n" + "\n".join(lines)


def test_the_cache_location_and_the_results_store_sit_below_the_metrics():
    edges = import_graph()
    assert ("evals", "bench.base.cache") in edges
    assert ("evals", "bench.core.models") not in edges or all(
        "tiny" not in line for line in edges[("evals", "bench.core.models")])
    assert not any(a.startswith("evals") and b == "bench.commands" for a, b in edges)
