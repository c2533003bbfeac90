"""Timing a callable the way benchmark experts expect: warm-up calls first,
then timed calls until both a minimum count and a minimum duration are
reached. Each call is ended with `block_until_ready`, so a latency is the
device's work, not JAX's asynchronous dispatch. The timer knows nothing of
the model: it times `call(i)`, whose inputs the caller has already put on
device."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import jax


@dataclass(frozen=True)
class TimingPolicy:
    warmup: int = 1
    iters: int = 5
    min_seconds: float = 0.0
    max_iters: int = 10_000
    """A ceiling so that a very fast program with a long --min-seconds still ends."""

    def __post_init__(self):
        if self.warmup < 0:
            raise ValueError(f"--warmup must be >= 0, got {self.warmup}")
        if self.iters < 1:
            raise ValueError(f"--iters must be >= 1, got {self.iters}")
        if self.min_seconds < 0:
            raise ValueError(f"--min-seconds must be >= 0, got {self.min_seconds}")

    def done(self, count: int, elapsed: float) -> bool:
        return count >= self.max_iters or (count >= self.iters and elapsed >= self.min_seconds)


def time_calls(call: Callable[[int], Any], policy: TimingPolicy, minimum: int = 0,
               on_result: Callable[[int, Any], None] | None = None,
               before_call: Callable[[], None] | None = None) -> list[float]:
    """Seconds of each timed `call(i)` (i counts timed calls from 0), after
    `policy.warmup` untimed ones. At least `minimum` calls are timed (a caller
    that cycles over its batches asks for one pass over all of them).
    `on_result(i, outputs)` and `before_call()` (e.g. waiting for the turn
    of an interleaved sweep) run outside the timed region."""
    for _ in range(policy.warmup):
        jax.block_until_ready(call(0))
    latencies: list[float] = []
    started = time.perf_counter()
    while len(latencies) < minimum or not policy.done(len(latencies), time.perf_counter() - started):
        index = len(latencies)
        if before_call is not None:
            before_call()
        begin = time.perf_counter()
        outputs = jax.block_until_ready(call(index))
        latencies.append(time.perf_counter() - begin)
        if on_result is not None:
            on_result(index, outputs)
    return latencies
