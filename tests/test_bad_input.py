"""Bad input: one line naming the option and the reason, exit status 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

CASES = {
    "unknown preset": (["generate", "a cat", "--preset", "minii"], "did you mean 'mini'"),
    "missing checkpoint": (["generate", "a cat", "--model", "/no/such/checkpoint"], "--model: checkpoint not found"),
    "unreadable checkpoint": (["generate", "a cat", "--vqgan", "{tmp}"], "--vqgan: cannot load checkpoint"),
    "empty prompt": (["generate", "a cat", "  "], "prompt 2 is empty"),
    "no prompts": (["generate"], "no prompts given"),
    "zero images": (["generate", "a cat", "-n", "0"], "--num-images must be >= 1"),
    "zero temperature": (["generate", "a cat", "--temperature", "0"], "--temperature must be > 0"),
    "negative top-k": (["generate", "a cat", "--top-k", "-1"], "--top-k must be >= 0"),
    "top-p zero": (["generate", "a cat", "--top-p", "0"], "--top-p must be in (0, 1]"),
    "top-p above one": (["generate", "a cat", "--top-p", "1.5"], "--top-p must be in (0, 1]"),
    "negative cond-scale": (["generate", "a cat", "--cond-scale", "-1"], "--cond-scale must be >= 0"),
    "too many devices": (["generate", "a cat", "--devices", "3", "--parallel", "sharded"],
                         "--devices 3: only 1 cpu device(s) available"),
    "single on many devices": (["generate", "a cat", "--devices", "2", "--host-devices", "2",
                                "--parallel", "single"], "--parallel single runs on one device"),
    "zero batch": (["generate", "a cat", "--batch-per-device", "0"], "--batch-per-device must be >= 1"),
    "unknown dtype": (["generate", "a cat", "--dtype", "float8"], "--dtype"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_with_status_2(case, run_cli, cli_inprocess, tmp_path):
    args, message = CASES[case]
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    # Device counts need a process of their own: this one's JAX has conftest's 4 emulated devices.
    run = run_cli if "--devices" in args else cli_inprocess
    proc = run(*args, "--out", tmp_path / "out") if args[1:] else run(*args)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


def test_host_devices_after_jax_started_is_refused(tiny_cache):
    code = ("import jax.numpy as jnp; jnp.ones(1).block_until_ready();"
            "from bench.cli import main; main(['generate', 'a cat', '--host-devices', '2'])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "Error: --host-devices: JAX has already initialised its backend in this process; "
        "set it before any JAX work (or set XLA_FLAGS yourself)"]
