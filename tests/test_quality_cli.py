"""CMMD, FD-DINOv2, PRDC and re-ranking through the CLI, on tiny real
networks the tests build and save as local folders (a CLIP image tower and a
DINOv2), against the same networks called directly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

# One pytest-xdist worker runs this module: its module fixtures are built once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("test_quality_cli")]


def _write_images(folder: Path, count: int, seed: int, size: int = 48) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        image = np.clip(rng.integers(0, 255, size=(1, 1, 3)) + rng.integers(0, 80, size=(size, size, 3)),
                        0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"img{i:03d}.png")
        images.append(image)
    return np.stack(images)


@pytest.fixture(scope="module")
def networks(tmp_path_factory):
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, Dinov2Config, Dinov2Model

    root = tmp_path_factory.mktemp("networks")
    torch.manual_seed(0)
    CLIPVisionModelWithProjection(CLIPVisionConfig(
        image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, projection_dim=16)).save_pretrained(root / "clip")
    Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                             patch_size=14, image_size=28)).save_pretrained(root / "dinov2")
    return {"clip": root / "clip", "dinov2": root / "dinov2"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    return {name: (root / name, _write_images(root / name, count, seed))
            for name, count, seed in (("a", 8, 1), ("b", 8, 2), ("few", 3, 3))}


def _clip_embeddings(folder, images):
    """The CMMD recipe written out (google-research cmmd/io_util.py, embedding.py): centre square crop,
    PIL bicubic resize to the input size as uint8, [0, 1], CLIP mean/std, unit vectors."""
    import torch
    from transformers import CLIPVisionModelWithProjection

    model = CLIPVisionModelWithProjection.from_pretrained(folder).eval()
    size = model.config.image_size
    squares = []
    for im in images:
        h, w = im.shape[:2]
        side = min(h, w)
        square = im[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        squares.append(np.asarray(Image.fromarray(square).resize((size, size), Image.BICUBIC)))
    x = np.stack(squares) / 255.0
    x = (x - [0.48145466, 0.4578275, 0.40821073]) / [0.26862954, 0.26130258, 0.27577711]
    with torch.no_grad():
        e = model(pixel_values=torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float32)).image_embeds.numpy()
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def test_cmmd_embeds_a_non_square_image_as_its_centre_square(networks):
    # As the reference: the centred square of the shorter side, then the resize (not the whole image squashed).
    from evals import clip_embedding

    wide = np.zeros((200, 300, 3), np.uint8)  # H 200, W 300: the crop is columns 50-249
    wide[:, :150] = (220, 40, 30)  # left half red, right half blue ...
    wide[:, 150:] = (20, 60, 210)
    wide[:, :50] = (30, 200, 40)  # ... but for a green strip that the crop drops and squashing keeps
    wide[::7] = 255  # some texture, so the towers see more than two flat colours
    model = clip_embedding.load(str(networks["clip"]))
    size = model.config.image_size
    squashed = np.asarray(Image.fromarray(wide).resize((200, 200), Image.BICUBIC))
    got, crop, whole = (clip_embedding.embeddings(model, im[None])[0] for im in (wide, wide[:, 50:250], squashed))
    np.testing.assert_allclose(got, crop, atol=1e-6)
    assert np.abs(got - whole).max() > 1e-3
    np.testing.assert_allclose(got, _clip_embeddings(networks["clip"], wide[None])[0], atol=1e-5)
    tall = np.ascontiguousarray(wide.transpose(1, 0, 2))  # H 300, W 200: the crop is rows 50-249
    np.testing.assert_allclose(clip_embedding.preprocess(tall[None], size),
                               clip_embedding.preprocess(tall[None, 50:250], size))


def _dinov2_features(folder, images):
    import torch
    from transformers import Dinov2Model

    model = Dinov2Model.from_pretrained(folder).eval()
    x = np.stack([np.asarray(Image.fromarray(im).resize((224, 224), Image.BICUBIC)) for im in images]) / 255.0
    x = (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    with torch.no_grad():
        return model(pixel_values=torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float32)).pooler_output.numpy()


def _mmd(x, y, sigma=10.0):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)  # float32 would lose the digits of a ~0.04 CMMD
    k = lambda a, b: np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * sigma ** 2)).mean()  # noqa: E731
    return 1000 * (k(x, x) + k(y, y) - 2 * k(x, y))


def test_cmmd_cli_against_the_network_called_directly(networks, folders, run_cli, tmp_path):
    (a, images_a), (b, images_b) = folders["a"], folders["b"]
    cache = tmp_path / "cache"
    out = json.loads(run_cli("metrics", "cmmd", a, b, "--clip", networks["clip"], "--cache", cache,
                             check=True).stdout)
    expected = _mmd(_clip_embeddings(networks["clip"], images_a), _clip_embeddings(networks["clip"], images_b))
    assert out["cmmd"] == pytest.approx(expected, rel=1e-3) and out["cmmd"] > 0
    assert out["images"] == 8 and out["reference_images"] == 8 and "null_reason" not in out
    assert str(networks["clip"]) in out["network"] and "bicubic" in out["network"] and "32x32" in out["network"]
    cached = list(cache.glob("ref-*clip*.npz"))
    assert len(cached) == 1  # reference embeddings cached by content, network and weights
    same = json.loads(run_cli("metrics", "cmmd", a, a, "--clip", networks["clip"], "--cache", cache,
                              check=True).stdout)
    assert same["cmmd"] == pytest.approx(0.0, abs=1e-6)


def test_fd_dinov2_and_prdc_cli_against_the_network_called_directly(networks, folders, run_cli, tmp_path):
    from evals.prdc import prdc
    from evals.statistics import feature_statistics, frechet_distance

    (a, images_a), (b, images_b) = folders["a"], folders["b"]
    fa, fb = _dinov2_features(networks["dinov2"], images_a), _dinov2_features(networks["dinov2"], images_b)
    fd = json.loads(run_cli("metrics", "fd-dinov2", a, b, "--dinov2", networks["dinov2"], "--cache", tmp_path,
                            check=True).stdout)
    expected = frechet_distance(*feature_statistics(fa), *feature_statistics(fb))
    assert fd["fd_dinov2"] == pytest.approx(expected, rel=1e-3, abs=1e-4)
    assert fd["fd_dinov2_biased"] is True and "biased" in fd["warning"]  # 8 images, 32 feature dimensions
    assert "dgm-eval" in fd["network"] and fd["images"] == 8
    pr = json.loads(run_cli("metrics", "prdc", a, b, "--dinov2", networks["dinov2"], "--cache", tmp_path,
                            check=True).stdout)
    expected = prdc(fb, fa, k=5)
    assert pr["k"] == 5 and pr["reference_images"] == 8
    for name in ("precision", "recall", "density", "coverage"):
        assert pr[name] == pytest.approx(getattr(expected, name), abs=1e-9), name


# The rule is the registry's, one code path for every metric: two commands show it (each call starts torch).
@pytest.mark.parametrize("command,count", [("cmmd", 1), ("prdc", 3)])
def test_too_few_images_give_null_with_a_reason(command, count, networks, folders, run_cli, tmp_path):
    few = tmp_path / "few"
    few.mkdir()
    for f in sorted(folders["few"][0].iterdir())[:count]:
        shutil.copy(f, few)
    option = ["--clip", networks["clip"]] if command == "cmmd" else ["--dinov2", networks["dinov2"]]
    proc = run_cli("metrics", command, few, folders["a"][0], *option, "--cache", tmp_path / "c")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    out = json.loads(proc.stdout)
    value = {"cmmd": "cmmd", "fd-dinov2": "fd_dinov2", "prdc": "density"}[command]
    assert out[value] is None and f"got {count}" in out["null_reason"] and out["images"] == count


def test_bad_reference_is_one_line(networks, folders, run_cli, tmp_path):
    proc = run_cli("metrics", "prdc", folders["a"][0], tmp_path / "nowhere", "--dinov2", networks["dinov2"])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "is not a folder of images" in proc.stderr
    proc = run_cli("metrics", "cmmd", folders["a"][0], folders["b"][0], "--clip", tmp_path / "no-clip")
    assert proc.returncode == 2 and "checkpoint folder not found" in proc.stderr


def test_eval_adds_registry_columns_and_the_report_plots_best_of_k(torch_clip, networks, run_cli, tmp_path):
    run_cli("sweep", "--temperature", "0.5,1.0", "--cond-scale", "1", "--no-stages", "--iters", "1", "-n", "2",
            "--out", tmp_path, "--run-id", "r", "--no-progress", "--no-report", check=True)
    run_dir = tmp_path / "r"
    first = pd.read_parquet(run_dir / "points.parquet").point_id[0]
    proc = run_cli("eval", run_dir, "--metrics", "clip,rerank,cmmd,fd_dinov2,prdc", "--clip", torch_clip,
                   "--ref", f"point:{first}", "--cmmd-clip", networks["clip"], "--dinov2", networks["dinov2"],
                   check=True)
    rows = pd.read_parquet(run_dir / "points.parquet")
    ok = rows[rows.status == "ok"]
    n = int(ok.num_images.iloc[0])
    assert (ok.rerank_images_per_prompt == n).all()
    assert all(len(curve) == n and np.all(np.diff(curve) >= -1e-12) for curve in ok.clip_score_best_of_k)
    np.testing.assert_allclose([c[0] for c in ok.clip_score_best_of_k], ok.clip_score, rtol=1e-9)
    np.testing.assert_allclose(ok.rerank_gain, ok.clip_score_best_of_n - ok.clip_score, atol=1e-9)
    assert ok.cmmd.iloc[0] == pytest.approx(0.0, abs=1e-6) and ok.cmmd.iloc[1] > 0  # from the baseline point
    assert ok.fd_dinov2.notna().all() and ok.fd_dinov2_biased.all()
    images = int(ok.dinov2_images.iloc[0])
    assert images < 6 and ok.density.isna().all()  # too few for k=5: null, with the reason kept
    assert ok.quality_notes.str.contains(f"prdc: prdc needs at least 6 images, got {images}").all()
    assert ok.cmmd_network.str.contains("bicubic").all() and ok.dinov2_network.str.contains("dgm-eval").all()
    assert "cmmd" in proc.stderr

    again = run_cli("eval", run_dir, "--metrics", "clip,rerank,cmmd,fd_dinov2,prdc", "--clip", torch_clip,
                    "--ref", f"point:{first}", "--cmmd-clip", networks["clip"], "--dinov2", networks["dinov2"],
                    check=True)
    assert "Nothing to evaluate" in again.stderr  # null-with-reason is an answer, not a gap

    html = Path(run_cli("report", run_dir, "--html", check=True).stdout.strip()).read_text()
    assert "Best of k" in html and "no Gaussian assumption" in html


def test_rerank_needs_clip_and_unknown_metrics_suggest(run_cli, tmp_path):
    proc = run_cli("eval", tmp_path, "--metrics", "rerank")
    assert proc.returncode == 2 and "rerank needs clip" in proc.stderr
    proc = run_cli("eval", tmp_path, "--metrics", "cmd")
    assert proc.returncode == 2 and "did you mean 'cmmd'" in proc.stderr
    proc = run_cli("eval", tmp_path, "--metrics", "cmmd")
    assert proc.returncode == 2 and "need --fid-ref" in proc.stderr
