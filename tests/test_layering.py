"""The folders are the layers (docs/architecture.md): a module imports only modules of its own layer
and of the layers below, a job only the jobs before it, and no module imports, however indirectly, a
module that imports it. Imports inside functions and under TYPE_CHECKING count: a part never needs
the part that needs it, even to name a type."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("bench", "evals")

# Bottom to top: the prefixes of the modules that make each layer (docs/architecture.md).
LAYERS = (
    ("base", ("bench.base",)),
    ("data", ("bench.data",)),
    ("shapes", ("bench.shapes",)),
    ("measure", ("bench.measure",)),
    ("core", ("bench.core",)),
    ("quality", ("evals",)),
    ("results", ("bench.results",)),
    ("jobs", ("bench.jobs",)),
    ("interface", ("bench.commands", "bench.cli", "bench.docs", "bench.__main__", "bench")),
)
# Within the jobs: a job may import the jobs of a lower rank (loadgen's report embeds the HTML
# report's figures, its compare reuses compare's noise rule), never one of its own rank or above.
JOB_RANK = {"sweep": 0, "accelerator": 0, "train": 0, "evaluate": 1, "report": 2, "compare": 3, "loadgen": 4}


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(name: str) -> bool:
    base = REPO.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


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


def project_modules() -> list[tuple[Path, str]]:
    return [(path, _module(path)) for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))]


def module_graph() -> dict[str, dict[str, int]]:
    """module -> {module it imports: the line of the first such import}. A package's own modules
    importing the package (its __init__) are left out: Python runs __init__ first anyway."""
    graph: dict[str, dict[str, int]] = {}
    for path, module in project_modules():
        edges = graph.setdefault(module, {})
        for target, line in _imported(path, module):
            if target != module and not module.startswith(target + "."):
                edges.setdefault(target, line)
    return graph


def layer_of(module: str) -> int:
    best, rank = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank is not None, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return rank


def job_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["bench", "jobs"] and len(parts) > 2 else None


def violations(graph) -> list[str]:
    found = []
    for module, targets in graph.items():
        for target, line in targets.items():
            if layer_of(target) > layer_of(module):
                found.append(f"{module}:{line} imports {target} from a higher layer "
                             f"({LAYERS[layer_of(module)][0]} < {LAYERS[layer_of(target)][0]})")
            elif (job_of(module) and job_of(target) and job_of(module) != job_of(target)
                  and JOB_RANK[job_of(target)] >= JOB_RANK[job_of(module)]):
                found.append(f"{module}:{line} imports {target}: job {job_of(module)} may not use job {job_of(target)}")
    return sorted(found)


def find_cycle(edges) -> list[str] | None:
    """One cycle of the graph (node -> its successors) as a path (first == last), or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": ["b", "c"], "b": ["c"]}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a", "d"]}) == ["a", "b", "c", "a"]


def test_the_layer_rule_sees_an_import_upwards():
    graph = {"bench.core.pipeline": {"bench.results.store": 3}, "bench.jobs.sweep.x": {"bench.jobs.loadgen.y": 4},
             "bench.jobs.loadgen.y": {"bench.jobs.report.html": 5, "bench.base.errors": 6}}
    assert violations(graph) == ["bench.core.pipeline:3 imports bench.results.store from a higher layer (core < results)",
                                 "bench.jobs.sweep.x:4 imports bench.jobs.loadgen.y: job sweep may not use job loadgen"]


def test_every_module_sits_in_a_layer_and_imports_only_below():
    graph = module_graph()
    assert "bench.jobs.sweep.execute" in graph and "bench.core.pipeline" in graph["bench.jobs.sweep.execute"]
    assert violations(graph) == []


def test_no_module_imports_itself_through_others():
    graph = module_graph()
    cycle = find_cycle(graph)
    lines = [f"{a}:{graph[a][b]} -> {b}" for a, b in zip(cycle, cycle[1:])] if cycle else []
    assert cycle is None, "import cycle:\n" + "\n".join(lines)


def test_every_package_is_named_in_the_architecture_page():
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = sorted({module for path, module in project_modules() if path.name == "__init__.py"})
    missing = [p for p in packages if f"`{p.replace('.', '/')}/`" not in page]
    assert missing == [], f"docs/architecture.md does not describe {missing}"
