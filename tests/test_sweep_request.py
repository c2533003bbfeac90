"""The command line a `sweep --repeat` process gives each of its repeats: the
same list for the same options, whatever carries the options."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.core import ParameterSource

from bench.base.errors import BenchError
from bench.cli import sweep as sweep_command
from bench.commands.sweep_request import sweep_request


def sweep_params(*args: str) -> tuple[dict, set[str]]:
    """The options click hands `sweep` for `args`, and those given on the command line."""
    ctx = sweep_command.make_context("sweep", list(args))
    explicit = {name for name in ctx.params if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
    return ctx.params, explicit


def child_argv(args: tuple[str, ...], child: Path, turn_file: Path, members: int) -> list[str]:
    options, explicit = sweep_params(*args, "--out", str(child.parent.parent / "out"))
    return sweep_request(options, explicit).child_argv(child, turn_file, members)


BASE = [sys.executable, "-m", "bench", "sweep", "--resume"]


@pytest.mark.parametrize("args, extra", [
    ((), []),
    (("--no-compilation-cache",), ["--no-compilation-cache"]),
    (("--no-compilation-cache", "--compilation-cache", "xla"), ["--no-compilation-cache"]),
    (("--compile-workers", "3"), ["--compile-workers", "3"]),
    (("--compilation-cache", "~/xla", "--compile-workers", "2"),
     ["--compilation-cache", str(Path("~/xla").expanduser().absolute()), "--compile-workers", "2"]),
    (("--compilation-cache", "rel/xla", "--repeat", "3", "--iters", "5"),
     ["--compilation-cache", str(Path("rel/xla").absolute())]),
])
def test_child_argv_is_todays_list(tmp_path, args, extra):
    child, turn_file = tmp_path / "repeats" / "r2", tmp_path / "repeats" / "turns.json"
    expected = [*BASE, str(child), "--no-report", "--no-progress", "--turn-file", str(turn_file), "--turn-members",
                "3", *extra]
    assert child_argv(args, child, turn_file, 3) == expected


def test_the_request_groups_the_options_and_leaves_them_unchanged(tmp_path):
    options, explicit = sweep_params("--batch-per-device", "1,2", "--iters", "3", "--no-report", "--budget-s", "60",
                                     "--out", str(tmp_path), "--run-id", "r")
    before = dict(options)
    request = sweep_request(options, explicit)
    assert options == before  # nothing written back (compile workers are resolved once JAX starts, and returned)
    assert request.definition.iters == 3 and len(request.definition.points()) == 2
    assert request.folder.out == tmp_path and request.folder.run_id == "r" and request.folder.resume is None
    assert request.repeats == 1 and request.budget_s == 60 and not request.closing.report
    assert request.compilation.workers is None and request.evaluation is None
    assert request.explicit == frozenset(explicit) and "iters" in request.explicit


def test_bad_input_keeps_its_one_line_messages(tmp_path):
    options, explicit = sweep_params("--repeat", "2", "--budget-s", "60", "--out", str(tmp_path))
    with pytest.raises(BenchError, match=r"^--budget-s: not with --repeat or --coordinator"):
        sweep_request(options, explicit)
    options, explicit = sweep_params("--iters", "0", "--out", str(tmp_path))
    with pytest.raises(BenchError, match=r"^--iters must be >= 1, got 0$"):
        sweep_request(options, explicit)
