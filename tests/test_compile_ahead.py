"""Compiling several programs at once (`bench/sweep/ahead.py`): each comes
back compiled and computing what it computes alone, and one that cannot be
compiled is reported for its own point without stopping the others."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.parallel import ParallelConfig, Runner
from bench.sweep.ahead import compile_together, default_compile_workers


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


def test_default_workers_are_between_one_and_four():
    assert 1 <= default_compile_workers() <= 4
