"""Adherence as a metric: the checker over images and their prompts, and
the one-line error for prompts the world cannot check."""

from __future__ import annotations

import numpy as np
import pytest

from bench.base.errors import BenchError
from bench.data.prompt_sets import load_prompt_set
from bench.shapes import scenes, world
from bench.shapes.captions import parse
from evals.adherence import adherence_scores, check_world_prompts
from tests.conftest import imported_modules


def test_adherence_of_world_renders_is_one_and_of_mismatched_images_lower():
    prompts = list(load_prompt_set("shapes").prompts)
    rng = np.random.default_rng(0)
    images = np.stack([world.render(scenes.sample_scene(parse(p), rng)) for p in prompts])
    passed, partial = adherence_scores(images, prompts)
    assert passed.mean() == 1.0 and partial.mean() == 1.0
    shifted, shifted_partial = adherence_scores(np.roll(images, 1, axis=0), prompts)  # each image, another caption
    assert shifted.mean() < 0.2 and 0 < shifted_partial.mean() < 1


def test_prompts_outside_the_world_are_named():
    with pytest.raises(BenchError, match=r"prompt 1: 'a fox' is not a caption of the shapes world"):
        check_world_prompts(["a red circle", "a fox"])


def test_sweep_refuses_adherence_for_prompts_outside_the_world_before_running(cli_inprocess, tmp_path):
    proc = cli_inprocess("sweep", "--preset", "tiny", "--prompts", "curated", "--eval", "adherence", "--out", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "is not a caption of the shapes world" in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing started


def test_eval_adherence_fills_the_point_and_its_prompts(run_cli, cli_inprocess, tmp_path):
    """Through `sweep --eval adherence` (tiny: noise images, so the figures are low but present). The
    shapes world's checker is numpy: the sweep starts without torch (PYTHONPROFILEIMPORTTIME lists what
    it imported; bench/base/torch_free.py)."""
    import pandas as pd

    prompts = tmp_path / "world.txt"
    prompts.write_text("a red circle\ntwo green squares\n")
    proc = run_cli("sweep", "--preset", "tiny", "--prompts", prompts, "-n", "1", "--cond-scale", "1", "--iters", "1",
                   "--warmup", "0", "--no-stages", "--no-report", "--eval", "adherence", "--out", tmp_path,
                   "--run-id", "r", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = imported_modules(proc.stderr)
    assert {"transformers.modeling_flax_utils", "evals.adherence"} <= imported  # the listing is there
    assert not {name for name in imported if name.split(".")[0] in ("torch", "torchvision")}
    row = pd.read_parquet(tmp_path / "r" / "points.parquet").iloc[0]
    assert row.adherence_checker == "shapes checker v1"
    assert 0 <= row.adherence <= row.adherence_partial <= 1
    # Two images: whatever passed, the Wilson interval is wide and holds the rate.
    assert row.adherence_ci_low <= row.adherence <= row.adherence_ci_high
    assert row.adherence_ci_high - row.adherence_ci_low > 0.5
    per_prompt = pd.read_parquet(tmp_path / "r" / "prompt_scores.parquet")
    assert list(per_prompt.prompt) == ["a red circle", "two green squares"]
    assert per_prompt.adherence.notna().all() and per_prompt.adherence.mean() == pytest.approx(row.adherence)
    # The HTML report reads those per-prompt rows: without CLIP columns it must still render.
    proc = cli_inprocess("report", tmp_path / "r", "--html")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "Adherence by prompt challenge" in (tmp_path / "r" / "report" / "report.html").read_text()
