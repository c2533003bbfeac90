"""The device's peak FLOP/s and memory bandwidth for the roofline: the
data-sheet table for known accelerators, otherwise (CPU, or when asked) a
short measurement: a large matrix product for FLOP/s and a large reduction
for bandwidth (XLA's CPU reduction reads with all cores, its elementwise copy
does not), each the best of a few runs."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from .roofline import Peak, table_peak

# Large enough to leave launch overhead far behind: a 2048^2 product takes tens of microseconds on a
# data-centre GPU, so accelerators get 8192^2 (about 1.1 TFLOP) and a 2 GiB read.
MATMUL_SIZE = {"cpu": 2048}
READ_BYTES = {"cpu": 256 * 2**20}
ACCELERATOR_MATMUL_SIZE = 8192
ACCELERATOR_READ_BYTES = 2 * 2**30


def _best_seconds(fn, *args, repeats: int = 5) -> float:
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def measure_peak(device, dtype: str) -> Peak:
    """Measured peak of one device at `dtype`: matmul FLOP/s and read bandwidth."""
    jdtype = jnp.dtype(dtype)
    n = MATMUL_SIZE.get(device.platform, ACCELERATOR_MATMUL_SIZE)
    read_bytes = READ_BYTES.get(device.platform, ACCELERATOR_READ_BYTES)
    # Random operands: a GPU's matrix units draw less power, and clock higher, on constant data.
    a = jax.device_put(jax.random.normal(jax.random.PRNGKey(0), (n, n), jdtype), device)
    product = jax.jit(lambda x: x @ x)
    flops = 2.0 * n**3 / _best_seconds(product, a)
    x = jax.device_put(jnp.ones((read_bytes // 4,), jnp.float32), device)
    bandwidth = read_bytes / _best_seconds(jax.jit(jnp.sum), x)
    del a, x
    return Peak(flops, bandwidth, "measured")


def device_peak(device, dtype: str, measure: bool = False, cache: dict | None = None) -> Peak:
    """Peak of one device: the table, or a measurement on CPU, unknown
    devices or when `measure` is set. `cache` keeps measurements per run."""
    if not measure and device.platform != "cpu":
        known = table_peak(device.device_kind, dtype)
        if known is not None:
            return known
    key = (device.platform, device.device_kind, dtype)
    if cache is not None and key in cache:
        return cache[key]
    peak = measure_peak(device, dtype)
    if cache is not None:
        cache[key] = peak
    return peak


def shared_by_devices(platform: str) -> bool:
    """Emulated CPU devices share one host's cores and memory: the peak is the
    host's, whatever their number. Accelerators each bring their own."""
    return platform == "cpu"
