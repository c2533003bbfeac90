"""An image depends on (seed, prompt, sample) only: not on the device count,
the batch size, the padding or the parallel mode."""

from __future__ import annotations

import numpy as np
import pytest

# One pytest-xdist worker runs this module: its module fixtures are built once.
pytestmark = pytest.mark.xdist_group("test_device_invariance")

PROMPTS = ["a cat", "a lighthouse at dusk"]  # 2 prompts x 3 samples = 6 images: padded on 4-image batches

RUNS = {
    "single-b1": ["--parallel", "single", "--devices", "1", "--batch-per-device", "1"],
    "single-b4": ["--parallel", "single", "--devices", "1", "--batch-per-device", "4"],
    "pmap-2": ["--parallel", "pmap", "--devices", "2", "--batch-per-device", "2"],
    "sharded-2": ["--parallel", "sharded", "--devices", "2", "--batch-per-device", "2"],
    "pmap-4": ["--parallel", "pmap", "--devices", "4", "--batch-per-device", "1"],
    "sharded-4": ["--parallel", "sharded", "--devices", "4", "--batch-per-device", "1"],
}


@pytest.fixture(scope="module")
def reference_tokens():
    """Filled by the first run of the module; later runs compare against it."""
    return {}


@pytest.mark.parametrize("name", list(RUNS))
def test_tokens_identical_across_devices_batches_and_modes(name, run_cli, tmp_path, reference_tokens):
    run_cli("generate", *PROMPTS, "-n", "3", "--seed", "3", "--temperature", "0.9", "--top-k", "100",
            "--host-devices", "4", *RUNS[name], "--out", tmp_path, "--no-progress", check=True)
    tokens = np.load(tmp_path / "tokens.npy")
    assert tokens.shape == (2, 3, 256)
    reference = reference_tokens.setdefault("tokens", tokens)
    np.testing.assert_array_equal(tokens, reference, err_msg=f"{name} differs from the first run")
