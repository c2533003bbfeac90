"""`loadgen`'s door (bench/commands/loadgen_request.py): click's options become
one frozen request, with a benchmark definition applied once whoever merged
it, and the options themselves left as they were."""

from __future__ import annotations

import copy

import pytest
from click.core import ParameterSource

from bench.base.errors import BenchError
from bench.cli import loadgen as loadgen_command
from bench.commands.loadgen_request import loadgen_request


def loadgen_params(*args: str) -> tuple[dict, set[str]]:
    """The options click hands `loadgen` for `args`, and those given on the command line."""
    ctx = loadgen_command.make_context("loadgen", list(args))
    explicit = {name for name in ctx.params if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
    return ctx.params, explicit


def test_the_request_groups_the_options_and_leaves_them_unchanged(tmp_path):
    options, explicit = loadgen_params("--scenario", "offline,server", "--audit", "test01", "-n", "1",
                                       "--batch-per-device", "2", "--out", str(tmp_path), "--run-id", "r")
    before = copy.deepcopy(options)
    request = loadgen_request(options, explicit)
    assert options == before  # the audit's mode is the request's, not written back
    assert [s.scenario for s in request.scenarios] == ["Offline", "Server"]
    assert {s.mode for s in request.scenarios} == {"both"}
    assert request.parallel.global_batch == 2 and request.spec.preset == "tiny" and request.num_images == 1
    assert request.run_dir == tmp_path / "r" and request.audit == "test01" and request.benchmark is None
    assert request.total_samples == len(request.prompts) and request.explicit == frozenset(explicit)
    with pytest.raises(Exception):
        request.num_images = 2  # frozen


def test_a_benchmark_is_applied_once_at_the_door(tmp_path):
    options, explicit = loadgen_params("--scenario", "server", "--benchmark", "shapes", "--preset", "tiny",
                                       "--weights", "random", "--out", str(tmp_path))
    before = copy.deepcopy(options)
    direct = loadgen_request(options, explicit)
    assert options == before  # the definition's fields are the request's, not written back into the options
    assert direct.benchmark.overrides == ["--preset tiny (definition: shapes)",
                                          "--weights random (definition: pretrained)"]
    assert direct.sampling.cond_scale == 3.0 and direct.spec.preset == "tiny"
    assert direct.scenarios[0].target_latency_ms == 2000  # the definition's Server bound, not an override
    assert "target_latency_ms" in direct.explicit  # filled by the definition: a --user-conf cannot change it


def test_bad_input_keeps_its_one_line_messages(tmp_path):
    options, explicit = loadgen_params("--scenario", "offline", "--audit", "caching", "--mode", "accuracy",
                                       "--out", str(tmp_path))
    with pytest.raises(BenchError, match=r"^--audit caching runs performance \(--mode performance\), "
                                         r"not --mode accuracy$"):
        loadgen_request(options, explicit)
    options, explicit = loadgen_params("--scenario", "offline", "-n", "0", "--out", str(tmp_path))
    with pytest.raises(BenchError, match=r"^-n/--num-images must be in \[1, 1,000,000\], got 0$"):
        loadgen_request(options, explicit)
