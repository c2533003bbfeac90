"""The tiny preset's own checkpoints: its CLIP must score, or every CLIP-based check in CI
(the grid's best-first order, per-category tables, compare's CLIP gates) passes whatever the
code does; and a cache built by older code must not be used."""

from __future__ import annotations

import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from bench.base.cache import cache_root
from bench.core.models import clip as clip_lib
from bench.core.models.tiny import TINY_VERSION, tiny_folder
from tests.conftest import REPO

PROMPTS = ["a red apple on a table", "sunset over the sea", "a cat wearing a hat"]


def test_tiny_clip_scores_are_positive_and_differ_between_images_and_prompts(tiny_models):
    m = tiny_models
    images = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (4, 256, 256, 3)), jnp.float32)
    ids, mask = clip_lib.tokenize(m.clip_processor, PROMPTS, m.clip_prep.text_length)
    scores = np.stack([np.asarray(clip_lib.clip_scores(m.clip, m.clip_params, images,
                                                       jnp.asarray(np.repeat(ids[p:p + 1], 4, 0)),
                                                       jnp.asarray(np.repeat(mask[p:p + 1], 4, 0)), m.clip_prep))
                       for p in range(len(PROMPTS))])  # [prompt, image]
    assert (scores > 0).all(), scores
    assert len(np.unique(scores.round(4))) == scores.size, scores  # every (prompt, image) its own score
    assert (np.ptp(scores, axis=1) > 1e-3).all() and np.ptp(scores.mean(axis=1)) > 0.5, scores


def test_a_tiny_cache_built_by_older_code_is_not_used(tiny_cache):
    folder = tiny_folder()
    assert folder.parent == cache_root() and folder.name == f"tiny-v{TINY_VERSION}"
    assert TINY_VERSION >= 2  # 1 built the CLIP whose scores were all 0
    stale = cache_root() / "tiny-v1"
    assert folder != stale


@pytest.mark.integration
def test_processes_that_need_the_tiny_preset_at_once_share_one_build(tiny_cache, tmp_path):
    """Two processes on an empty cache folder: one builds (its three models in threads) while the
    other waits on the lock, and both get the complete folder, byte for byte the session's own."""
    code = "from bench.core.models.tiny import tiny_folder; print(tiny_folder())"
    env = {**os.environ, "DALLE_BENCH_CACHE": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=900) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    folder = tmp_path / f"tiny-v{TINY_VERSION}"
    assert [out.strip() for out, _ in outputs] == [str(folder)] * 2
    assert not list(tmp_path.glob(".tiny-build-*"))  # no staging folder left behind
    built = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    session = tiny_cache / f"tiny-v{TINY_VERSION}"
    assert built == sorted(p.relative_to(session) for p in session.rglob("*") if p.is_file())
    assert all((folder / name).read_bytes() == (session / name).read_bytes() for name in built)
