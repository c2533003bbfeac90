"""Peak memory: the device allocator's high-water mark where the backend
reports one (GPU, TPU), and the process's peak resident set on the host."""

from __future__ import annotations

import resource
import sys


def peak_device_bytes(devices) -> int | None:
    """Largest `peak_bytes_in_use` over `devices`, or None where the backend keeps no statistics (CPU)."""
    peaks = []
    for device in devices:
        try:
            stats = device.memory_stats()
        except Exception:  # backends without allocator statistics raise rather than return None
            stats = None
        if stats and "peak_bytes_in_use" in stats:
            peaks.append(int(stats["peak_bytes_in_use"]))
    return max(peaks) if peaks else None


def host_peak_rss_bytes() -> int:
    """This process's peak resident set since it started (it never decreases)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS reports bytes, Linux KiB
