"""The tiny preset's own checkpoints: its CLIP must score, or every CLIP-based check in CI
(the grid's best-first order, per-category tables, compare's CLIP gates) passes whatever the
code does; and a cache built by older code must not be used."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from bench.base.cache import cache_root
from bench.core.models import clip as clip_lib
from bench.core.models.tiny import TINY_VERSION, tiny_folder

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
