"""Shared test set-up. In-process tests see 4 emulated CPU devices (set
before JAX is imported); CLI tests run `python -m bench` as a subprocess, as
a user would, with a tiny-preset cache built once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    """A cache folder with the tiny preset built, shared by every test of the session."""
    folder = Path(os.environ.get("DALLE_BENCH_TEST_CACHE") or tmp_path_factory.mktemp("cache"))
    os.environ["DALLE_BENCH_CACHE"] = str(folder)
    from bench.models.tiny import tiny_folder

    tiny_folder()
    return folder


@pytest.fixture(scope="session")
def run_cli(tiny_cache):
    def run(*args: str, env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
        full_env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        full_env.update({"DALLE_BENCH_CACHE": str(tiny_cache), "TRANSFORMERS_VERBOSITY": "error"})
        full_env.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "bench", *map(str, args)], cwd=REPO, env=full_env,
                              capture_output=True, text=True, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"dalle-bench {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                                 f"{proc.stderr[-3000:]}")
        return proc

    return run


@pytest.fixture(scope="session")
def tiny_models(tiny_cache):
    """The tiny preset loaded in this process (float32)."""
    from bench.models.loading import ModelSpec, load_models

    return load_models(ModelSpec(preset="tiny"))
