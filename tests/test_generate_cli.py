"""`dalle-bench generate` as a user runs it: a subprocess writing real files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

# One pytest-xdist worker runs this module: its module fixtures are built once.
pytestmark = pytest.mark.xdist_group("test_generate_cli")

PROMPTS = ["Dog wearing clothes", "Earth from space"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory, run_cli):
    out = tmp_path_factory.mktemp("gen")
    proc = run_cli("generate", *PROMPTS, "-n", "3", "--preset", "tiny", "--seed", "1", "--batch-per-device", "2",
                   "--out", out, check=True)
    return out, proc


def test_writes_one_png_per_image_and_a_grid_per_prompt(generated):
    out, _ = generated
    for p in range(2):
        for s in range(3):
            with Image.open(out / f"prompt{p:03d}_sample{s:03d}.png") as image:
                assert image.size == (256, 256) and image.mode == "RGB"
        with Image.open(out / f"grid_prompt{p:03d}.png") as grid:
            assert grid.size == (3 * 256, 256)


def test_tokens_file_is_prompt_major_int32(generated):
    out, _ = generated
    tokens = np.load(out / "tokens.npy")
    assert tokens.dtype == np.int32 and tokens.shape == (2, 3, 256)
    assert tokens.min() >= 0 and tokens.max() < 1024  # the tiny codebook
    assert len({tuple(t) for t in tokens.reshape(6, 256)}) == 6


def test_metadata_records_settings_devices_scores_and_timings(generated):
    out, _ = generated
    meta = json.loads((out / "generate.json").read_text())
    assert meta["prompts"] == PROMPTS and meta["num_images"] == 3 and meta["seed"] == 1
    assert meta["sampling"] == {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "cond_scale": 10.0}
    assert meta["model"]["preset"] == "tiny" and meta["model"]["random_weights"] is True
    # The tiny preset is built into local folders: each is named by a hash of its weight files.
    from bench.base.sources import weights_id

    sources, revisions = meta["model"]["sources"], meta["model"]["revisions"]
    assert set(revisions) == {"dalle", "vqgan", "clip"} and len(set(revisions.values())) == 3
    assert all(revisions[k].startswith("sha1-") and revisions[k] == weights_id(sources[k]) for k in revisions)
    assert "random weights" in meta["warning"]
    assert meta["devices"]["device_count"] == 1 and meta["devices"]["platform"] == "cpu"
    assert meta["parallel"] == {"mode": "single", "devices": 1, "batch_per_device": 2, "global_batch": 2}
    assert meta["versions"]["jax"] and meta["versions"]["dalle-mini"] == "0.1.5"
    assert len(meta["images"]) == 6 and all(0 <= i["clip_score"] <= 100 for i in meta["images"])
    assert len(meta["timings"]["batch_seconds"]) == 3 and meta["timings"]["compile_seconds"] > 0


def test_grid_is_ordered_by_clip_score(generated):
    out, _ = generated
    meta = json.loads((out / "generate.json").read_text())
    scores = [i["clip_score"] for i in meta["images"] if i["prompt_index"] == 0]
    # An order of equal scores proves nothing (the tiny CLIP once scored every image 0).
    assert min(scores) > 0 and len(set(scores)) == 3, scores
    grid = np.asarray(Image.open(out / "grid_prompt000.png"))
    tiles = [grid[:, i * 256:(i + 1) * 256] for i in range(3)]
    order = [next(s for s in range(3) if np.array_equal(tile, np.asarray(Image.open(
        out / f"prompt000_sample{s:03d}.png")))) for tile in tiles]
    assert [scores[s] for s in order] == sorted(scores, reverse=True)


def test_random_weights_are_announced(generated):
    _, proc = generated
    assert "random weights" in proc.stderr


def test_same_seed_same_images_other_seed_other_images(cli_inprocess, tmp_path, generated):
    out, _ = generated
    cli_inprocess("generate", *PROMPTS, "-n", "3", "--seed", "1", "--out", tmp_path / "a", "--no-progress", check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "tokens.npy"), np.load(out / "tokens.npy"))
    cli_inprocess("generate", *PROMPTS, "-n", "3", "--seed", "2", "--out", tmp_path / "b", "--no-progress", check=True)
    assert not np.array_equal(np.load(tmp_path / "b" / "tokens.npy"), np.load(out / "tokens.npy"))


def test_long_prompt_is_truncated_with_a_warning(cli_inprocess, tmp_path):
    proc = cli_inprocess("generate", "a red cube on a blue sphere " * 5, "-n", "1", "--cond-scale", "1",
                   "--out", tmp_path, "--no-progress", check=True)
    assert "prompt 1 is longer than 64 text tokens and was truncated" in proc.stderr
    assert np.load(tmp_path / "tokens.npy").shape == (1, 1, 256)


def test_local_checkpoint_folders_load_through_model_options(cli_inprocess, tiny_cache, tmp_path, generated):
    """--model/--vqgan/--clip with folders: the loading path users take for their own checkpoints."""
    import shutil

    out, _ = generated
    (source,) = [p for p in tiny_cache.iterdir() if p.name.startswith("tiny-v")]
    copies = {name: shutil.copytree(source / name, tmp_path / "ckpt" / name) for name in ("dallebart", "vqgan", "clip")}
    cli_inprocess("generate", *PROMPTS, "-n", "3", "--seed", "1", "--batch-per-device", "2", "--weights", "pretrained",
            "--model", copies["dallebart"], "--vqgan", copies["vqgan"], "--clip", copies["clip"],
            "--out", tmp_path / "out", "--no-progress", check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "tokens.npy"), np.load(out / "tokens.npy"))
    meta = json.loads((tmp_path / "out" / "generate.json").read_text())
    assert meta["model"]["sources"]["dalle"] == str(copies["dallebart"])
    assert meta["model"]["weights"] == "pretrained"


def test_the_throughput_definition_is_stated(generated):
    out, proc = generated
    timings = json.loads((out / "generate.json").read_text())["timings"]
    assert timings["throughput_definition"].startswith("images written / seconds of all program calls")
    assert timings["padded_rows"] == 0  # 6 images in batches of 2
    assert "Throughput: images written / seconds of all program calls" in proc.stderr


def test_a_checkpoint_with_missing_weights_says_so_in_one_line(cli_inprocess, tiny_cache, tmp_path):
    """transformers' own warning is hidden (TRANSFORMERS_VERBOSITY=error) and
    _do_init=False leaves the weight out: the load must name it."""
    import shutil

    from flax.serialization import msgpack_restore, msgpack_serialize

    (source,) = [p for p in tiny_cache.iterdir() if p.name.startswith("tiny-v")]
    folder = shutil.copytree(source / "dallebart", tmp_path / "dallebart")
    weights = msgpack_restore((folder / "flax_model.msgpack").read_bytes())
    del weights["lm_head"]
    (folder / "flax_model.msgpack").write_bytes(msgpack_serialize(weights))
    proc = cli_inprocess("generate", "a cat", "-n", "1", "--cond-scale", "1", "--model", folder,
                   "--out", tmp_path / "out", "--no-progress")
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("Note:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and f"--model: checkpoint '{folder}' lacks 1 weight(s)" in lines[0], proc.stderr
    assert "lm_head/kernel" in lines[0]
