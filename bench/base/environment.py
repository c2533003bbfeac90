"""What a figure was measured on: versions, devices, host, commit."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

PACKAGES = ("jax", "jaxlib", "flax", "transformers", "dalle-mini", "torch", "numpy")
# JAX's accelerator runtimes, as installed: the CUDA or ROCm plugin, or libtpu.
RUNTIME_PACKAGES = ("jax-cuda13-plugin", "jax-cuda13-pjrt", "jax-cuda12-plugin", "jax-cuda12-pjrt",
                    "jax-rocm7-plugin", "jax-rocm6-plugin", "libtpu", "libtpu-nightly")
# Environment variables that change what XLA compiles or how JAX holds device memory.
RUNTIME_VARIABLES = ("XLA_FLAGS", "LIBTPU_INIT_ARGS", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION",
                     "XLA_PYTHON_CLIENT_ALLOCATOR", "JAX_DEFAULT_MATMUL_PRECISION", "CUDA_VISIBLE_DEVICES",
                     "NVIDIA_TF32_OVERRIDE", "JAX_COMPILATION_CACHE_DIR")


def package_versions() -> dict[str, str | None]:
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_info(devices: list) -> dict:
    import jax

    return {
        "platform": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "available_devices": jax.device_count(),
        "process_count": jax.process_count(),
        "runtime": runtime_info(devices[0].platform),
    }


def runtime_info(platform: str) -> dict:
    """What runs the programs below JAX: the backend's own version string (CUDA
    or ROCm runtime, TPU runtime), the driver, the plugin packages, and the
    settings that change compilation (XLA flags, GPU autotuning) or memory."""
    import jax
    import jax.extend

    try:
        backend_version = jax.extend.backend.get_backend().platform_version
    except Exception:  # an older JAX without jax.extend.backend, or a backend that does not say
        backend_version = None
    flags = os.environ.get("XLA_FLAGS", "")
    autotune = [flag for flag in flags.split() if "autotune" in flag]
    versions = {}
    for name in RUNTIME_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {
        "backend_version": backend_version,
        "driver": nvidia_driver() if platform == "gpu" else None,
        "packages": versions,
        "variables": {name: os.environ[name] for name in RUNTIME_VARIABLES if name in os.environ},
        "gpu_autotuning": " ".join(autotune) if autotune else ("XLA's default (no autotune flag in XLA_FLAGS)"
                                                              if platform == "gpu" else None),
        "default_matmul_precision": str(jax.config.jax_default_matmul_precision),
    }


def nvidia_driver() -> dict | None:
    """The NVIDIA driver and GPUs as nvidia-smi reports them, or None without it."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,"
                              "power.limit", "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    gpus = [dict(zip(("name", "driver_version", "memory_total", "max_sm_clock", "power_limit"),
                     (field.strip() for field in line.split(",")))) for line in out.stdout.strip().splitlines()]
    return {"driver_version": gpus[0]["driver_version"] if gpus else None, "gpus": gpus}


def git_commit() -> dict:
    """The commit of the checkout this bench runs from; None for an installed bench, whose folder
    (site-packages) may well lie inside some other repository whose commit says nothing of this code."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def host_info() -> dict:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
