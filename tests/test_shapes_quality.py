"""The trained shapes preset as committed (checkpoints/shapes/): its checkpoints load through the
code that loads published checkpoints from a local folder, its VQGAN reconstructs the world, and its
images on the held-out set pass the checker at least as often as when they were committed. The
images are deterministic (fixed seeds), so the floors below sit just under the measured figures,
leaving room for another CPU's rounding to change a sampled token here and there."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.core.models.presets import PRESETS

CHECKPOINTS = PRESETS["shapes"].checkpoints
BUDGET_BYTES = 20 * 1024 * 1024  # the size budget for all committed checkpoints

pytestmark = pytest.mark.xdist_group("test_shapes_quality")


def test_committed_checkpoints_are_within_budget_and_say_how_they_were_made():
    files = [f for f in CHECKPOINTS.rglob("*") if f.is_file()]
    assert {f.parent.name for f in files if f.name == "flax_model.msgpack"} == {"dallebart", "vqgan", "clip"}
    assert sum(f.stat().st_size for f in files) <= BUDGET_BYTES
    record = json.loads((CHECKPOINTS / "training.json").read_text())
    assert record["command"].startswith("dalle-bench train-shapes") and record["settings"]["seed"] == 0
    assert set(record["trained"]) == {"dallebart", "vqgan", "clip"}
    assert record["vqgan_reconstruction_checker_pass_rate"] == 1.0


@pytest.mark.integration
def test_the_vqgan_reconstructs_world_images_within_the_stated_error():
    """Codes from world scenes (colour c is code c), decoded: every cell read back right by the
    checker's colour reading, mean squared error at most 2e-3 (9.6e-4 measured at assembly).
    Integration tier: the shipped checkpoint's bytes change only with `make train-shapes` (whose
    record states this figure, test above); in `make test`, tests/test_quality_gate.py's unchanged
    run decodes through the same VQGAN and is gated on the stored shapes baseline, and
    tests/test_conformance.py checks the VQGAN decoder against the reference implementation."""
    from bench.core.models.vqgan import VQModel
    from bench.jobs.train.data import images_of, training_scenes
    from bench.shapes.captions import parse
    from bench.shapes.checker import read_cells, score_grid

    vqgan = VQModel.from_pretrained(CHECKPOINTS / "vqgan")
    captions, grids = training_scenes(np.random.default_rng(1), 8)
    images = images_of(grids)
    decoded = np.clip(np.asarray(vqgan.decode_code(grids.reshape(len(grids), -1), params=vqgan.params)), 0, 1)
    assert float(((decoded - images) ** 2).mean()) <= 2e-3
    assert all((read_cells(d) == g).all() for d, g in zip(decoded, grids))
    assert all(score_grid(read_cells(d), parse(c)).passed for d, c in zip(decoded, captions))


@pytest.fixture(scope="module")
def held_out_run(run_cli, tmp_path_factory):
    """The held-out set (40 prompts x 2 images) at condition scales 1 and 3, through the CLI."""
    out = tmp_path_factory.mktemp("shapes")
    run_cli("sweep", "--preset", "shapes", "--prompts", "shapes", "--cond-scale", "1,3", "-n", "2", "--iters", "1",
            "--warmup", "0", "--no-stages", "--no-report", "--no-progress", "--eval", "adherence,clip",
            "--eval-clip", "shapes", "--out", out, "--run-id", "held-out", check=True)
    return out / "held-out"


@pytest.mark.integration
def test_held_out_adherence_floor(held_out_run):
    """Integration tier (80 images at two condition scales, CLIP-scored): in `make test` the shapes
    preset's quality is gated by tests/test_quality_gate.py::test_an_unchanged_run_passes_the_quality_gate
    (its 40 held-out prompts at condition scale 3, adherence and CLIP against the stored baseline).
    Measured when committed (2026-11-30, this CPU): 76.25 % at condition scale 1 (colour 94,
    shape 94, simple detail 100, counting 56, spatial relations 38 %), 56.25 % at scale 3. The
    issue's floor (80 % at the best scale, rising from 1 to 3) is not reached yet: this test keeps
    what was reached from getting worse."""
    points = pd.read_parquet(held_out_run / "points.parquet").set_index("cond_scale")
    assert points.loc[1.0, "adherence"] >= 0.70 and points.loc[3.0, "adherence"] >= 0.50
    assert (points.adherence_checker == "shapes checker v1").all()
    prompts = pd.read_parquet(held_out_run / "prompt_scores.parquet")
    at_one = prompts[prompts.point_id == points.loc[1.0, "point_id"]].groupby("challenge").adherence.mean()
    assert at_one["colour"] >= 0.85 and at_one["shape"] >= 0.85 and at_one["simple detail"] >= 0.85
    # The shapes CLIP tells images apart: scores differ between prompts.
    assert prompts.clip_score.std() > 1.0
    assert (held_out_run / "images" / points.loc[1.0, "point_id"] / "prompt000_sample000.png").is_file()
