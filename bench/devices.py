"""Device selection, and CPU device emulation (which must happen before JAX starts its backend)."""

from __future__ import annotations

import os
import re
import sys

from .errors import BenchError

_FLAG = "--xla_force_host_platform_device_count"


def backends_started() -> bool:
    """Whether JAX has started its backends in this process (XLA_FLAGS is then
    read already). JAX has no public query for it: this is the one place that
    reaches into `jax._src` for it, and tests/test_private_jax.py fails when a
    JAX release moves it."""
    from jax._src import xla_bridge

    return xla_bridge.backends_are_initialized()


def emulate_host_devices(count: int) -> None:
    """Make the CPU backend expose `count` devices. XLA reads the flag once,
    when the backend starts, so this must run before any JAX computation."""
    if count < 1:
        raise BenchError(f"--host-devices must be >= 1, got {count}")
    if "jax" in sys.modules and backends_started():
        raise BenchError("--host-devices: JAX has already initialised its backend in this process; "
                         "set it before any JAX work (or set XLA_FLAGS yourself)")
    flags = re.sub(rf"{_FLAG}=\d+", "", os.environ.get("XLA_FLAGS", "")).strip()
    os.environ["XLA_FLAGS"] = f"{flags} {_FLAG}={count}".strip()


def select_devices(count: int):
    """The first `count` devices of the default backend. Across processes
    `count` is global and each process gives the same number of its own
    devices (process by process), so every process holds an equal, contiguous
    share of each batch."""
    import jax

    available = jax.devices()
    if count < 1:
        raise BenchError(f"--devices must be >= 1, got {count}")
    if count > len(available):
        raise BenchError(f"--devices {count}: only {len(available)} {available[0].platform} device(s) available"
                         + (" (use --host-devices to emulate more CPU devices)" if available[0].platform == "cpu"
                            else ""))
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
