"""The shape the code keeps (docs/architecture.md): `bench/cli.py` only declares the commands and their
options, and no function is longer than a screen, so each one can be read, and tested, as one step."""

from __future__ import annotations

import ast

from tests.conftest import REPO

MAX_FUNCTION_LINES = 60
MAX_CLI_LINES = 200


def long_functions(source: str, name: str) -> list[str]:
    """`name:line function (N lines)` for each function of `source` over the limit, decorators not counted."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_the_rule_counts_a_function_from_its_def_to_its_last_line():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 1))
    assert long_functions(f"@decorator\ndef f():\n{body}\n", "m.py") == []
    assert long_functions(f"def f():\n{body}\n    y = 0\n", "m.py") == [f"m.py:1 f ({MAX_FUNCTION_LINES + 1} lines)"]


def test_no_function_outside_the_tests_is_over_60_lines():
    found = []
    for package in ("bench", "evals"):
        for path in sorted((REPO / package).rglob("*.py")):
            found += long_functions(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    assert found == []


def test_the_cli_module_only_declares():
    lines = (REPO / "bench" / "cli.py").read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_CLI_LINES, f"bench/cli.py has {lines} lines: command bodies belong in bench/commands/"
