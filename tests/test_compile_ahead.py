"""Compiling several programs at once (`bench/jobs/sweep/ahead.py`): each comes
back compiled and computing what it computes alone, and one that cannot be
compiled is reported for its own point without stopping the others."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.core.devices import cpu_cores
from bench.core.parallel import ParallelConfig, Runner
from bench.jobs.sweep.ahead import compile_together, default_compile_workers
from bench.jobs.sweep.context import Context


def _runner(program) -> Runner:
    return Runner(program, {"w": np.float32(3.0)}, jax.devices()[:1], ParallelConfig("single", 1, 1))


def _scaled(params, batch):
    return {"y": batch["x"] * params["w"]}


def _squared(params, batch):
    return {"y": jnp.square(batch["x"]) + params["w"]}


def _broken(params, batch):
    raise ValueError("this program cannot be traced")


BATCH = {"x": np.arange(4, dtype=np.float32).reshape(1, 4)}


@pytest.mark.parametrize("workers", [1, 2])
def test_each_program_compiles_and_computes_what_it_computes_alone(workers):
    makers = {"scaled": lambda: _runner(_scaled), "squared": lambda: _runner(_squared)}
    device_batch = _runner(_scaled).put(BATCH)
    outcomes = compile_together(makers, device_batch, workers)
    assert list(outcomes) == ["scaled", "squared"]
    for name, expected in (("scaled", BATCH["x"] * 3), ("squared", BATCH["x"] ** 2 + 3)):
        runner, seconds = outcomes[name]
        assert seconds > 0
        np.testing.assert_array_equal(runner.to_host(runner(device_batch))["y"], expected)


def test_a_program_that_fails_is_reported_and_the_others_compile():
    makers = {"broken": lambda: _runner(_broken), "scaled": lambda: _runner(_scaled)}
    device_batch = _runner(_scaled).put(BATCH)
    outcomes = compile_together(makers, device_batch, 2)
    assert isinstance(outcomes["broken"], ValueError) and "cannot be traced" in str(outcomes["broken"])
    runner, _ = outcomes["scaled"]
    np.testing.assert_array_equal(runner.to_host(runner(device_batch))["y"], BATCH["x"] * 3)


def test_default_workers_are_the_cpu_cores_up_to_four_on_cpu_and_one_elsewhere():
    assert default_compile_workers("cpu") == min(cpu_cores(), 4)
    assert default_compile_workers("gpu") == default_compile_workers("tpu") == 1


class FailsOnce:
    """A runner maker whose first runner cannot be traced, as a program that
    ran out of compiler memory beside others would fail, and whose next one can."""

    def __init__(self, program):
        self.program, self.calls = program, 0

    def __call__(self) -> Runner:
        self.calls += 1
        return _runner(_broken if self.calls == 1 else self.program)


def _context() -> Context:
    return Context(definition=None, prompts=[], models={}, placed={}, peaks={}, cluster=None, compile_workers=2)


def test_a_program_that_failed_beside_others_is_compiled_alone_and_the_others_are_not_compiled_again():
    context = _context()
    device_batch = _runner(_scaled).put(BATCH)
    flaky = FailsOnce(_squared)
    context.compile_ahead({"scaled": lambda: _runner(_scaled), "squared": flaky}, device_batch)
    assert context.clock.programs_compiled == 1 and context.concurrency["scaled"] == 2

    runner, seconds = context.compiled("squared", flaky, device_batch)  # alone now, and it compiles
    assert seconds > 0 and flaky.calls == 2 and "squared" not in context.concurrency
    np.testing.assert_array_equal(runner.to_host(runner(device_batch))["y"], BATCH["x"] ** 2 + 3)

    def must_not_compile_again():
        raise AssertionError("compiled again although it was compiled ahead")

    runner, seconds = context.compiled("scaled", must_not_compile_again, device_batch)
    assert seconds > 0 and context.concurrency["scaled"] == 2
    assert context.compiled("scaled", must_not_compile_again, device_batch)[1] == 0.0  # then reused
    assert (context.clock.programs_compiled, context.clock.programs_reused) == (2, 1)


def test_a_program_that_fails_alone_too_raises_for_its_point():
    context = _context()
    device_batch = _runner(_scaled).put(BATCH)
    context.compile_ahead({"broken": lambda: _runner(_broken), "scaled": lambda: _runner(_scaled)}, device_batch)
    with pytest.raises(ValueError, match="cannot be traced"):
        context.compiled("broken", lambda: _runner(_broken), device_batch)
    assert "broken" not in context.ahead and context.compiled("scaled", None, device_batch)[1] > 0
