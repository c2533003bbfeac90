"""Quality metrics through the CLI against the libraries called directly, on
tiny real models the tests build: a PyTorch CLIP (config + the project's small
tokenizer) and a randomly initialised Inception weights file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

# One pytest-xdist worker runs this module: its module fixtures are built once.
pytestmark = pytest.mark.xdist_group("test_evals")


PROMPTS = ["a red square", "a blue circle", "green stripes"]


def _write_images(folder: Path, count: int, size: int, seed: int) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        base = rng.integers(0, 255, size=(1, 1, 3))
        noise = rng.integers(0, 60, size=(size, size, 3))
        image = np.clip(base + noise, 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"prompt{i // 2:03d}_sample{i % 2:03d}.png")
        images.append(image)
    return images


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    return {"a": (root / "a", _write_images(root / "a", 6, 64, seed=1)),
            "b": (root / "b", _write_images(root / "b", 6, 64, seed=2))}


def test_clip_score_cli_agrees_with_torchmetrics_and_the_flax_reranker(torch_clip, image_sets, cli_inprocess, tmp_path):
    from torchmetrics.multimodal import CLIPScore
    from transformers import CLIPModel, CLIPProcessor

    folder, images = image_sets["a"]
    prompts_file = tmp_path / "prompts.txt"
    prompts_file.write_text("\n".join(PROMPTS) + "\n")  # one per prompt index: 2 images each
    out = json.loads(cli_inprocess("metrics", "clip-score", folder, "--prompts", prompts_file, "--clip", torch_clip,
                                   check=True).stdout)
    per_image = [PROMPTS[i // 2] for i in range(6)]

    model, processor = CLIPModel.from_pretrained(torch_clip).eval(), CLIPProcessor.from_pretrained(torch_clip)
    metric = CLIPScore(model_name_or_path=lambda: (model, processor))
    direct = [float(metric(torch.from_numpy(im).permute(2, 0, 1), p)) for im, p in zip(images, per_image)]
    assert out["images"] == 6 and out["clip_model"] == str(torch_clip)
    np.testing.assert_allclose(list(out["per_image"].values()), direct, rtol=1e-4, atol=1e-4)
    assert out["clip_score"] == pytest.approx(np.mean(direct), rel=1e-4)

    # The pipeline's in-graph Flax scorer on the same weights (converted from PyTorch);
    # 64x64 images are the model's input size, so neither side resizes.
    import jax.numpy as jnp
    from transformers import FlaxCLIPModel

    from bench.core.models.clip import ClipPreprocessing, clip_scores, tokenize

    flax_model = FlaxCLIPModel.from_pretrained(torch_clip, from_pt=True)
    prep = ClipPreprocessing.of(flax_model, processor)
    ids, mask = tokenize(processor, per_image, prep.text_length)
    flax = clip_scores(flax_model, flax_model.params, jnp.asarray(np.stack(images) / 255.0, jnp.float32), ids,
                       mask, prep)
    np.testing.assert_allclose(np.asarray(flax), direct, atol=0.05)


def _random_clip(folder: Path, seed: int) -> Path:
    """A randomly initialised tiny CLIP (its embeddings about orthogonal: cosines of either sign)."""
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    from bench.core.models.presets import PRESETS
    from bench.core.models.tiny import tiny_folder

    torch.manual_seed(seed)
    CLIPModel(CLIPConfig(**PRESETS["tiny"].clip_config)).eval().save_pretrained(folder)
    CLIPProcessor.from_pretrained(tiny_folder() / "clip").save_pretrained(folder)
    return folder


def test_clip_score_clamps_the_mean_not_each_image_as_torchmetrics(tiny_cache, image_sets, cli_inprocess, tmp_path):
    # torchmetrics' CLIPScore is max(mean of 100 x cosine, 0): with some cosines negative, clamping each
    # image first (max(cosine, 0) per image) gives a larger mean than torchmetrics does.
    from torchmetrics.functional.multimodal import clip_score
    from transformers import CLIPModel, CLIPProcessor

    from evals.commands import clip_score_of_folder

    folder, images = image_sets["a"]
    prompts_file = tmp_path / "prompts.txt"
    prompts_file.write_text("\n".join(PROMPTS) + "\n")
    per_image = [PROMPTS[i // 2] for i in range(6)]
    tensors = [torch.from_numpy(im).permute(2, 0, 1) for im in images]

    # Seed 4: cosines of both signs, positive mean. Through the command, as a user runs it.
    mixed = _random_clip(tmp_path / "mixed", seed=4)
    out = json.loads(cli_inprocess("metrics", "clip-score", folder, "--prompts", prompts_file, "--clip", mixed,
                                   check=True).stdout)
    scores = np.array(list(out["per_image"].values()))
    assert (scores < 0).any() and scores.mean() > 0  # the case this test is about
    model, processor = CLIPModel.from_pretrained(mixed).eval(), CLIPProcessor.from_pretrained(mixed)
    expected = float(clip_score(tensors, per_image, model_name_or_path=lambda: (model, processor)))
    assert out["clip_score"] == pytest.approx(expected, rel=1e-4)
    assert out["clip_score"] < np.maximum(scores, 0).mean() - 0.1  # not the per-image clamp
    assert out["clip_score_std"] == pytest.approx(scores.std(ddof=1), rel=1e-6)  # of the unclamped scores
    assert out["clip_score_ci95"][0] < out["clip_score"] < out["clip_score_ci95"][1]

    # Seed 0: a negative mean. torchmetrics says 0; the interval's ends are clamped at 0 as the mean is.
    negative = _random_clip(tmp_path / "negative", seed=0)
    out = clip_score_of_folder(folder, prompts_file, str(negative))
    scores = np.array(list(out["per_image"].values()))
    assert (scores > 0).any() and scores.mean() < 0
    model, processor = CLIPModel.from_pretrained(negative).eval(), CLIPProcessor.from_pretrained(negative)
    assert float(clip_score(tensors, per_image, model_name_or_path=lambda: (model, processor))) == 0.0
    assert out["clip_score"] == 0.0
    assert out["clip_score_ci95"][0] == 0.0 < out["clip_score_ci95"][1]


def test_a_flax_only_clip_folder_scores_as_the_in_graph_scorer(tiny_cache, image_sets, cli_inprocess, tmp_path):
    # The tiny preset's CLIP is saved with Flax weights only: `eval`/`metrics` convert them on load.
    import jax.numpy as jnp
    from transformers import CLIPProcessor, FlaxCLIPModel

    from bench.core.models.clip import ClipPreprocessing, clip_scores, tokenize
    from bench.core.models.tiny import tiny_folder

    clip = tiny_folder() / "clip"
    folder, images = image_sets["a"]
    prompts_file = tmp_path / "prompts.txt"
    prompts_file.write_text("\n".join(PROMPTS) + "\n")
    out = json.loads(cli_inprocess("metrics", "clip-score", folder, "--prompts", prompts_file, "--clip", clip,
                                   check=True).stdout)
    per_image = [PROMPTS[i // 2] for i in range(6)]
    flax_model, processor = FlaxCLIPModel.from_pretrained(clip), CLIPProcessor.from_pretrained(clip)
    prep = ClipPreprocessing.of(flax_model, processor)
    ids, mask = tokenize(processor, per_image, prep.text_length)
    expected = clip_scores(flax_model, flax_model.params, jnp.asarray(np.stack(images) / 255.0, jnp.float32),
                           ids, mask, prep)
    np.testing.assert_allclose(list(out["per_image"].values()), np.asarray(expected), atol=0.05)


def test_fid_cli_agrees_with_torch_fidelity_and_torchmetrics(inception_weights, image_sets, cli_inprocess):
    import torch_fidelity
    from torchmetrics.image.fid import FrechetInceptionDistance

    (a, images_a), (b, images_b) = image_sets["a"], image_sets["b"]
    out = json.loads(cli_inprocess("metrics", "fid", a, b, "--inception-weights", inception_weights,
                                   check=True).stdout)
    reference = torch_fidelity.calculate_metrics(input1=str(a), input2=str(b), fid=True, kid=False,
                                                 feature_extractor_weights_path=str(inception_weights),
                                                 kid_subset_size=6, verbose=False, cache=False, cuda=False)
    assert out["fid"] == pytest.approx(reference["frechet_inception_distance"], rel=1e-4)
    fid = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(inception_weights))
    fid.update(torch.from_numpy(np.stack(images_b)).permute(0, 3, 1, 2), real=True)
    fid.update(torch.from_numpy(np.stack(images_a)).permute(0, 3, 1, 2), real=False)
    assert out["fid"] == pytest.approx(float(fid.compute()), rel=1e-2)
    assert out["fid_biased"] is True and "biased" in out["warning"]
    assert out["feature_extractor"].startswith("inception-v3-compat")
    assert math.isfinite(out["kid_mean"]) and out["kid_subset_size"] == 6 and out["fid_sqrtm"] == "exact"
    assert out["isc_mean"] is None and out["isc_splits"] == 0  # 6 images: too few for one split
    assert "isc: 6 images, fewer than the 50 one split of the Inception Score needs" in out["quality_notes"]
    assert 0 <= out["precision"] <= 1 and 0 <= out["recall"] <= 1


def test_statistics_file_reference_and_its_cache(inception_weights, image_sets, cli_inprocess, tmp_path):
    (a, _), (b, _) = image_sets["a"], image_sets["b"]
    cache = tmp_path / "cache"
    folder_ref = json.loads(cli_inprocess("metrics", "fid", a, b, "--metrics", "fid", "--inception-weights",
                                          inception_weights, "--cache", cache, check=True).stdout)
    cached = list(cache.glob("ref-*.npz"))
    assert len(cached) == 1 and "inception-v3-compat" in cached[0].name
    features = np.load(cached[0])["features"]
    stats = tmp_path / "ref.npz"
    np.savez(stats, mu=features.mean(0), sigma=np.cov(features, rowvar=False))
    from_stats = json.loads(cli_inprocess("metrics", "fid", a, stats, "--metrics", "fid,kid", "--inception-weights",
                                          inception_weights, check=True).stdout)
    assert from_stats["fid"] == pytest.approx(folder_ref["fid"], rel=1e-9)
    assert from_stats["kid_mean"] is None  # a statistics file has no features for KID


@pytest.mark.parametrize("case", ["no images", "mixed sizes", "unreadable", "prompt count", "bad stats",
                                  "mismatched stats", "missing weights"])
def test_bad_metric_input(case, inception_weights, image_sets, cli_inprocess, tmp_path):
    a = image_sets["a"][0]
    prompts = tmp_path / "p.txt"
    prompts.write_text("one\ntwo\n")
    folder = tmp_path / "imgs"
    folder.mkdir()
    if case == "no images":
        args, message = ["clip-score", folder, "--prompts", prompts], "no images"
    elif case == "mixed sizes":
        _write_images(folder, 1, 64, 0)
        Image.new("RGB", (32, 32)).save(folder / "z.png")
        args, message = ["clip-score", folder, "--prompts", prompts], "must share one size"
    elif case == "unreadable":
        (folder / "a.png").write_bytes(b"not a png")
        args, message = ["clip-score", folder, "--prompts", prompts], "unreadable image"
    elif case == "prompt count":
        args, message = ["clip-score", a, "--prompts", prompts], "has 2 prompts for 6 images"
    elif case == "bad stats":
        np.savez(tmp_path / "s.npz", mean=np.zeros(3))
        args, message = ["fid", a, tmp_path / "s.npz", "--inception-weights", inception_weights], "no 'mu' and 'sigma'"
    elif case == "mismatched stats":
        np.savez(tmp_path / "s.npz", mu=np.zeros(3), sigma=np.eye(3))
        args, message = ["fid", a, tmp_path / "s.npz", "--inception-weights", inception_weights], "3-d statistics"
    else:
        args, message = ["fid", a, a, "--inception-weights", tmp_path / "none.pth"], "file not found"
    proc = cli_inprocess("metrics", *args)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_eval_adds_quality_columns_and_per_prompt_scores(torch_clip, inception_weights, cli_inprocess, tmp_path):
    cli_inprocess("sweep", "--cond-scale", "1,3", "--no-stages", "--iters", "1", "-n", "2", "--out", tmp_path,
                  "--run-id", "q", "--no-progress", "--no-report", check=True)
    run_dir = tmp_path / "q"
    rows = pd.read_parquet(run_dir / "points.parquet")
    baseline = f"point:{rows.point_id[0]}"
    cli_inprocess("eval", run_dir, "--metrics", "clip,fid,isc", "--clip", torch_clip, "--fid-ref", baseline,
                  "--inception-weights", inception_weights, check=True)
    rows = pd.read_parquet(run_dir / "points.parquet")
    assert (rows.clip_model == str(torch_clip)).all() and rows.clip_score.notna().all()
    assert rows.fid[0] == pytest.approx(0.0, abs=1e-6) and rows.fid[1] > 0  # distance from the baseline point
    assert rows.fid_biased.all() and (rows.fid_reference == baseline).all()
    assert rows.isc_mean.isna().all() and (rows.isc_splits == 0).all()  # 4 images a point: null, with the reason
    assert rows.quality_notes.str.startswith("isc: 4 images, fewer than the 50").all()
    prompts = pd.read_parquet(run_dir / "prompt_scores.parquet")
    assert len(prompts) == 2 * 2 and set(prompts.prompt) == {"sunset over a lake in the mountains",
                                                              "the Eiffel tower landing on the moon"}
    run = json.loads((run_dir / "run.json").read_text())
    assert run["evaluation"]["metrics"] == ["clip", "fid", "isc"]

    cli_inprocess("eval", run_dir, "--metrics", "kid", "--fid-ref", baseline, "--inception-weights",
                  inception_weights, check=True)
    other = f"point:{rows.point_id[1]}"
    cli_inprocess("eval", run_dir, "--metrics", "fid", "--fid-ref", other, "--inception-weights", inception_weights,
                  check=True)
    rows = pd.read_parquet(run_dir / "points.parquet")
    assert (rows.fid_reference == other).all() and rows.fid[1] == pytest.approx(0.0, abs=1e-6)
    assert rows.kid_mean.isna().all()  # KID was against the old reference: cleared, not relabelled

    before = (run_dir / "points.parquet").read_bytes()
    again = cli_inprocess("eval", run_dir, "--metrics", "clip,isc", "--clip", torch_clip, "--inception-weights",
                          inception_weights, check=True)
    assert "Nothing to evaluate" in again.stderr
    assert pd.read_parquet(run_dir / "points.parquet").equals(pd.read_parquet(pd.io.common.BytesIO(before)))


def test_sweep_evaluates_each_point_as_it_finishes(torch_clip, cli_inprocess, tmp_path):
    proc = cli_inprocess("sweep", "--temperature", "0.5,1.0", "--no-stages", "--iters", "1", "-n", "1", "--out",
                         tmp_path, "--run-id", "e", "--eval", "clip", "--eval-clip", torch_clip, "--no-progress",
                         check=True)
    rows = pd.read_parquet(tmp_path / "e" / "points.parquet")
    assert rows.clip_score.notna().all() and (rows.clip_model == str(torch_clip)).all()
    assert sum(line.startswith("  eval ") for line in proc.stderr.splitlines()) == 2
    report = (tmp_path / "e" / "report" / "report.md").read_text()
    assert "## Quality" in report and "clip_score" in report


def test_bad_eval_settings_are_refused_before_anything_runs(cli_inprocess, tmp_path):
    for args, message in ((["--eval", "fid"], "need --fid-ref"), (["--eval", "clpi"], "unknown metric(s) clpi"),
                          (["--eval", "fid", "--fid-ref", "/no/such/ref"], "--fid-ref: not found"),
                          (["--eval", "fid", "--fid-ref", "point:999-x"], "not a point of this sweep"),
                          (["--eval", "isc", "--inception-weights", "/no/w.pth"], "file not found")):
        proc = cli_inprocess("sweep", *args, "--out", tmp_path / "out")
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "out").exists()
