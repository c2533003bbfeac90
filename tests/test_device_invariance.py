"""An image depends on (seed, prompt, sample) only: not on the device count,
the batch size, the padding or the parallel mode."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

# One pytest-xdist worker runs this module: its module fixtures are built once.
pytestmark = pytest.mark.xdist_group("test_device_invariance")

PROMPTS = ["a cat", "a lighthouse at dusk"]  # 2 prompts x 3 samples = 6 images: padded on 4-image batches

# (parallel, devices, batch per device): one sweep over every layout, in one process.
LAYOUTS = [("single", 1, 1), ("single", 1, 4), ("pmap", 2, 2), ("sharded", 2, 2), ("pmap", 4, 1), ("sharded", 4, 1)]


def test_tokens_identical_across_devices_batches_and_modes(run_cli, tmp_path):
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")
    parallel, devices, batch = (", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
                                for values in zip(*LAYOUTS))
    parallel = parallel.replace("'", '"')
    (tmp_path / "layouts.toml").write_text(f"[zip]\nparallel = [{parallel}]\ndevices = [{devices}]\n"
                                           f"batch_per_device = [{batch}]\n")
    run_cli("sweep", "--sweep", tmp_path / "layouts.toml", "--prompts", tmp_path / "prompts.txt", "-n", "3",
            "--seed", "3", "--temperature", "0.9", "--top-k", "100", "--cond-scale", "10", "--host-devices", "4",
            "--warmup", "0", "--iters", "1", "--no-stages", "--out", tmp_path, "--run-id", "layouts",
            "--no-report", "--no-progress", check=True)
    run_dir = tmp_path / "layouts"
    rows = pd.read_parquet(run_dir / "points.parquet")
    assert list(zip(rows.parallel, rows.devices, rows.batch_per_device)) == LAYOUTS
    assert (rows.status == "ok").all(), rows.error.tolist()
    reference = np.load(run_dir / rows.images_dir[0] / "tokens.npy")
    assert reference.shape == (2, 3, 256)
    for row in rows.itertuples():
        np.testing.assert_array_equal(np.load(run_dir / row.images_dir / "tokens.npy"), reference,
                                      err_msg=f"{row.parallel} on {row.devices} device(s), batch "
                                              f"{row.batch_per_device} differs from one device, batch 1")
