"""Run as `python -m bench.jobs.accelerator.probe`: print, as JSON, the devices JAX
finds and what runs them (bench.base.environment), in a process of its own so that
the driver holds no device and --host-devices can set XLA_FLAGS first."""

from __future__ import annotations

import json
import sys


def main() -> None:
    import jax

    from bench.base.environment import device_info, host_info, package_versions

    devices = jax.devices()
    # The tokenizers every random-weight run loads are built here, once, before any block's clock runs.
    from bench.core.models.tiny import tiny_folder

    tiny_folder()
    memory = []
    for device in devices:
        try:
            stats = device.memory_stats() or {}
        except Exception:  # backends without allocator statistics raise
            stats = {}
        memory.append(stats.get("bytes_limit"))
    json.dump({"devices": device_info(devices), "device_memory_bytes": memory, "host": host_info(),
               "versions": package_versions()}, sys.stdout)


if __name__ == "__main__":
    main()
