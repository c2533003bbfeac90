"""The timer: warm-up calls untimed, then until both the count and the
duration are reached, every call synchronised, results handed back."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import pytest

from bench.measure.timing import TimingPolicy, time_calls


def test_warmup_then_at_least_iters_calls():
    calls = []
    latencies = time_calls(lambda i: calls.append(i) or jnp.ones(1), TimingPolicy(warmup=2, iters=3))
    assert len(latencies) == 3 and calls == [0, 0, 0, 1, 2]


def test_runs_until_the_minimum_duration():
    latencies = time_calls(lambda i: time.sleep(0.02), TimingPolicy(warmup=0, iters=1, min_seconds=0.2))
    assert len(latencies) >= 5 and sum(latencies) >= 0.2 - 0.02


def test_minimum_calls_cover_every_batch_and_results_are_kept():
    kept = {}
    time_calls(lambda i: jnp.full(2, i), TimingPolicy(warmup=0, iters=2), minimum=5,
               on_result=lambda i, out: kept.setdefault(i, out))
    assert sorted(kept) == [0, 1, 2, 3, 4] and int(kept[3][0]) == 3


def test_each_latency_includes_the_device_work():
    """An asynchronously dispatched product must be waited for inside the timed region."""
    x = jnp.ones((1024, 1024))
    product = jax.jit(lambda a: (a @ a @ a @ a).sum())
    product(x).block_until_ready()
    latencies = time_calls(lambda i: product(x), TimingPolicy(warmup=0, iters=3))
    dispatch_only = []
    for _ in range(3):
        start = time.perf_counter()
        out = product(x)
        dispatch_only.append(time.perf_counter() - start)
        out.block_until_ready()
    assert min(latencies) > min(dispatch_only)


@pytest.mark.parametrize("bad", [dict(iters=0), dict(warmup=-1), dict(min_seconds=-1.0)])
def test_bad_policies_are_refused(bad):
    with pytest.raises(ValueError):
        TimingPolicy(**bad)
