"""Functions short enough to read at a glance: none over 60 lines outside the
tests (a longer one is split into named steps)."""

from __future__ import annotations

import ast

from tests.conftest import REPO

MAX_LINES = 60


def test_no_function_is_over_60_lines():
    long = []
    for package in ("bench", "evals"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_LINES:
                        long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "split into named steps: " + "; ".join(long)
