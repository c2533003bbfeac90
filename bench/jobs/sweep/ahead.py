"""Compiling the programs a layout's points will need together, before the
first of them is timed.

XLA's compilation is mostly native work that releases the GIL, and a single
compilation keeps only part of a host busy (about 1.4 of this project's 2
CPU cores; one core of a GPU host's many). So while one program compiles,
the next is traced and lowered in Python and then compiled beside it. No
timed call runs meanwhile: the points are measured after every program of
their layout is ready."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Hashable

from bench.core.devices import cpu_cores
from bench.core.parallel import Runner

MAX_DEFAULT_WORKERS = 4
"""Concurrent compilations by default: each holds its own XLA compiler
memory, which for mega is gigabytes."""


def default_compile_workers(backend: str) -> int:
    """On the CPU backend, up to one compilation per usable core, at most
    `MAX_DEFAULT_WORKERS`. Elsewhere 1: XLA's GPU compiler autotunes kernels by
    timing them on the device, and compilations at once would time their
    candidates against each other, which could change the programs measured."""
    if backend != "cpu":
        return 1
    return max(1, min(cpu_cores(), MAX_DEFAULT_WORKERS))


def _compile(lowered) -> tuple[object, float]:
    started = time.perf_counter()
    executable = lowered.compile()
    return executable, time.perf_counter() - started


def compile_together(makers: dict[Hashable, Callable[[], Runner]], device_batch, workers: int
                     ) -> dict[Hashable, tuple[Runner, float] | Exception]:
    """Each maker's runner compiled for `device_batch`'s shapes, up to
    `workers` compilations at a time. Per key: (the compiled runner, seconds
    of its own lowering and compilation, which overlap the others'), or the
    exception that stopped it, for the point that needs it to report."""
    outcomes: dict[Hashable, tuple[Runner, float] | Exception] = {}
    pool = ThreadPoolExecutor(max(1, min(workers, len(makers))), thread_name_prefix="compile")
    try:
        jobs = {}
        for key, make in makers.items():
            started = time.perf_counter()
            try:
                runner = make()
                lowered = runner.lower_for(device_batch)
            except Exception as e:  # this program's point records it; the others still compile
                outcomes[key] = e
                continue
            jobs[key] = (runner, time.perf_counter() - started, pool.submit(_compile, lowered))
        for key, (runner, lowering_s, future) in jobs.items():
            try:
                executable, compile_s = future.result()
            except Exception as e:
                outcomes[key] = e
                continue
            runner.adopt(executable)
            outcomes[key] = (runner, lowering_s + compile_s)
    except BaseException:
        # Ctrl-C: start nothing more (a compilation already running cannot be stopped).
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return {key: outcomes[key] for key in makers if key in outcomes}
