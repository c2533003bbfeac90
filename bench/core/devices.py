"""Device selection, and CPU device emulation (which must happen before JAX starts its backend)."""

from __future__ import annotations

import os
import re
import sys

from bench.base.errors import BenchError

_FLAG = "--xla_force_host_platform_device_count"

# Emulated CPU devices are threads of one process sharing its cores. A
# collective waits for every device to arrive, and XLA aborts the process
# when one is too late. Measured here (docs/sweeps.md, "Emulated devices"): a pmap
# all-reduce runs on 768 devices with 2 cores and on 512 with 1 core; a tiny
# sweep on 999 aborted after about 90 s (issue 17). Below that hard ceiling the time of a
# point grows with devices per core (one tiny point on 128 devices, 2 cores:
# over 400 s), so the default allows 64 per core. Memory is not the limit for
# the tiny preset (about 10 MB a device), but each device holds its own copy
# of the weights: with mini and mega the memory runs out first.
DEVICES_PER_CORE = 64
HARD_CEILING = 768
LIMIT_VARIABLE = "DALLE_BENCH_MAX_HOST_DEVICES"


def backends_started() -> bool:
    """Whether JAX has started its backends in this process (XLA_FLAGS is then
    read already). JAX has no public query for it: this is the one place that
    reaches into `jax._src` for it, and tests/test_private_jax.py fails when a
    JAX release moves it."""
    from jax._src import xla_bridge

    return xla_bridge.backends_are_initialized()


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def max_host_devices() -> int:
    """The most CPU devices this machine can emulate ($DALLE_BENCH_MAX_HOST_DEVICES overrides)."""
    override = os.environ.get(LIMIT_VARIABLE, "").strip()
    if override:
        try:
            return max(1, int(override))
        except ValueError:
            raise BenchError(f"${LIMIT_VARIABLE} must be an integer, got '{override}'") from None
    return min(HARD_CEILING, DEVICES_PER_CORE * cpu_cores())


def check_emulated_count(count: int, option: str = "--host-devices") -> None:
    """Refuse an emulated device count the machine cannot run, before anything starts."""
    if count < 1:
        raise BenchError(f"{option} must be >= 1, got {count}")
    limit = max_host_devices()
    if count > limit:
        source = (f"${LIMIT_VARIABLE}" if os.environ.get(LIMIT_VARIABLE, "").strip()
                  else f"{DEVICES_PER_CORE} per core x {cpu_cores()} cores, {HARD_CEILING} at most")
        raise BenchError(f"{option} {count}: this machine can emulate at most {limit} CPU devices ({source}); "
                         f"more stall XLA's collectives until it aborts (set ${LIMIT_VARIABLE} to override)")


def emulate_host_devices(count: int, option: str = "--host-devices") -> None:
    """Make the CPU backend expose `count` devices. XLA reads the flag once,
    when the backend starts, so this must run before any JAX computation."""
    check_emulated_count(count, option)
    if "jax" in sys.modules and backends_started():
        raise BenchError("--host-devices: JAX has already initialised its backend in this process; "
                         "set it before any JAX work (or set XLA_FLAGS yourself)")
    flags = re.sub(rf"{_FLAG}=\d+", "", os.environ.get("XLA_FLAGS", "")).strip()
    os.environ["XLA_FLAGS"] = f"{flags} {_FLAG}={count}".strip()


def available_devices(count: int) -> list:
    """Every device of the default backend, once it is clear `count` of them
    (the most any part of the run asks for) exist."""
    import jax

    available = jax.devices()
    if count < 1:
        raise BenchError(f"--devices must be >= 1, got {count}")
    if count > len(available):
        raise BenchError(f"--devices {count}: only {len(available)} {available[0].platform} device(s) available"
                         + (" (use --host-devices to emulate more CPU devices)" if available[0].platform == "cpu"
                            else ""))
    return available


def select_devices(count: int):
    """The first `count` devices of the default backend. Across processes
    `count` is global and each process gives the same number of its own
    devices (process by process), so every process holds an equal, contiguous
    share of each batch."""
    import jax

    available = available_devices(count)
    processes = jax.process_count()
    if processes == 1:
        return available[:count]
    per_process, rest = divmod(count, processes)
    if rest:
        raise BenchError(f"--devices {count} is not a multiple of the {processes} processes")
    local = jax.local_device_count()
    if per_process > local:
        raise BenchError(f"--devices {count} needs {per_process} devices per process; each has {local}")
    by_process: dict[int, list] = {}
    for device in sorted(available, key=lambda d: (d.process_index, d.id)):
        by_process.setdefault(device.process_index, []).append(device)
    return [d for index in sorted(by_process) for d in by_process[index][:per_process]]
