"""LoadGen's accuracy figures come from the metric registry and its driver
(evals/scoring.py), as a sweep's do: the same figures as the metric code
computes them directly, in the scenario row's columns and order."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.base.errors import BenchError
from bench.jobs.loadgen.accuracy import QualitySettings, evaluate_images
from bench.results.outputs import image_name

PROMPTS = ["a red circle", "two blue squares"]


def _images(folder, count_per_prompt: int, seed: int):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for p in range(len(PROMPTS)):
        for s in range(count_per_prompt):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / image_name(p, s))
    return folder


@pytest.mark.integration  # three Inception passes and a CLIP on CPU: minutes on a shared machine
def test_the_figures_are_the_metric_codes_own(tmp_path, torch_clip, inception_weights, monkeypatch):
    from evals import fidelity, inception
    from evals.clip_score import clip_scores, load_clip
    from evals.images import load_images
    from evals.statistics import clip_score_summary

    monkeypatch.setenv("DALLE_BENCH_CACHE", str(tmp_path / "cache"))
    folder, reference = _images(tmp_path / "images", 2, 0), _images(tmp_path / "reference", 2, 1)
    settings = QualitySettings(clip=str(torch_clip), fid_ref=str(reference), inception_weights=inception_weights)
    row = evaluate_images(folder, PROMPTS, 2, settings)

    images = load_images([folder / image_name(p, s) for p in range(2) for s in range(2)])
    summary = clip_score_summary(clip_scores(*load_clip(str(torch_clip)), images, [p for p in PROMPTS for _ in "ab"]))
    extractor = inception.load_extractor(inception_weights)
    figures = fidelity.fidelity_metrics(
        inception.inception_features(extractor, images),
        fidelity.resolve_reference(str(reference), extractor, inception.weights_id(inception_weights),
                                   tmp_path / "stats"), {"fid", "kid"}, inception_weights)
    assert row == {"clip_model": str(torch_clip), "clip_score": summary.mean, "clip_score_std": summary.std,
                   "clip_score_ci_low": summary.ci_low, "clip_score_ci_high": summary.ci_high,
                   **{k: figures[k] for k in ("fid_reference", "fid", "fid_biased", "kid_mean", "kid_std")}}
    assert list(row)[-5:] == ["fid_reference", "fid", "fid_biased", "kid_mean", "kid_std"]


def test_too_few_images_for_fid_is_a_one_line_error(tmp_path, inception_weights):
    folder = _images(tmp_path / "images", 1, 0)
    settings = QualitySettings(clip=None, fid_ref=str(folder), inception_weights=inception_weights)
    with pytest.raises(BenchError, match="fid needs at least 2 images, got 1"):
        evaluate_images(folder, PROMPTS[:1], 1, settings)
