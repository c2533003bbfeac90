"""Warpers against transformers' Flax warpers; the sampling loop on fake logits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from transformers.generation.flax_logits_process import (
    FlaxTemperatureLogitsWarper,
    FlaxTopKLogitsWarper,
    FlaxTopPLogitsWarper,
)

from bench.core.sampling import SamplingConfig, image_keys, sample_image_tokens
from bench.core.sampling.warpers import apply_temperature, forbid_token, top_k_filter, top_p_filter, warp


def logits_with_ties(seed: int, rows: int = 6, vocab: int = 50) -> jnp.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(rows, vocab)).astype(np.float32) * 3
    logits[0, :10] = 1.0  # a block of ties
    logits[1] = 0.0  # all equal
    return jnp.asarray(logits)


@pytest.mark.parametrize("k", [1, 2, 7, 50, 80])
def test_top_k_matches_transformers(k):
    logits = logits_with_ties(k)
    expected = FlaxTopKLogitsWarper(top_k=k)(None, logits, 0)
    np.testing.assert_array_equal(top_k_filter(logits, k), expected)


@pytest.mark.parametrize("p", [0.01, 0.3, 0.9, 0.999, 1.0])
def test_top_p_matches_transformers(p):
    logits = logits_with_ties(int(p * 100))
    expected = FlaxTopPLogitsWarper(top_p=p)(None, logits, 0)
    np.testing.assert_array_equal(top_p_filter(logits, p), expected)


@pytest.mark.parametrize("t", [0.1, 0.7, 1.0, 2.5])
def test_temperature_matches_transformers(t):
    logits = logits_with_ties(3)
    np.testing.assert_allclose(apply_temperature(logits, t), FlaxTemperatureLogitsWarper(t)(None, logits, 0))


def test_warp_applies_transformers_order():
    logits = logits_with_ties(11)
    config = SamplingConfig(temperature=0.5, top_k=20, top_p=0.8)
    expected = logits
    for warper in (FlaxTemperatureLogitsWarper(0.5), FlaxTopKLogitsWarper(20), FlaxTopPLogitsWarper(0.8)):
        expected = warper(None, expected, 0)
    np.testing.assert_array_equal(warp(logits, config), expected)


def test_forbid_token_ignores_ids_outside_the_vocabulary():
    logits = logits_with_ties(5)
    assert np.isneginf(forbid_token(logits, 3)[:, 3]).all()
    np.testing.assert_array_equal(forbid_token(logits, 50), logits)


@pytest.mark.parametrize("bad", [dict(temperature=0), dict(temperature=-1), dict(top_k=-1), dict(top_p=0),
                                 dict(top_p=1.01), dict(cond_scale=-0.5)])
def test_sampling_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        SamplingConfig(**bad)


VOCAB = 8


def traced(config: SamplingConfig, keys) -> dict:
    """The loop's structure and per-row settings for `config` on every row of `keys`."""
    return {"structure": config.structure, "settings": config.rows(len(keys))}


class StaticCache(dict):
    """A cache pytree with no leaves: its flag stays a Python bool inside the loop."""

    def __init__(self, stacked: bool):
        super().__init__(stacked=stacked)


jax.tree_util.register_pytree_node(StaticCache, lambda c: ((), c["stacked"]), lambda aux, _: StaticCache(aux))


def fake_step(tokens, position, cache):
    """Conditioned rows favour (previous + 1) mod V, unconditioned rows (every
    second row when the cache says the rows are paired) favour the previous token."""
    prev = tokens[:, 0]
    logits = jax.nn.one_hot((prev + 1) % VOCAB, VOCAB) * 2.0
    if cache["stacked"]:
        unconditioned = (jnp.arange(tokens.shape[0]) % 2 == 1)[:, None]
        logits = jnp.where(unconditioned, jax.nn.one_hot(prev, VOCAB) * 3.0, logits)
    return logits, cache


def test_loop_is_greedy_with_top_k_1_and_feeds_tokens_back():
    keys = image_keys(0, jnp.arange(2), jnp.zeros(2))
    tokens = sample_image_tokens(fake_step, StaticCache(False), keys, num_tokens=5, start_token=3,
                                 forbidden_token=VOCAB, **traced(SamplingConfig(top_k=1, cond_scale=1.0), keys))
    np.testing.assert_array_equal(tokens, [[4, 5, 6, 7, 0]] * 2)


def test_super_conditioning_mixes_logits_and_feeds_both_halves():
    keys = image_keys(0, jnp.arange(2), jnp.zeros(2))
    # uncond + 3 * (cond - uncond): the conditioned favourite wins by 6 against -6.
    tokens = sample_image_tokens(fake_step, StaticCache(True), keys, num_tokens=4, start_token=0,
                                 forbidden_token=VOCAB, **traced(SamplingConfig(top_k=1, cond_scale=3.0), keys))
    np.testing.assert_array_equal(tokens, [[1, 2, 3, 4]] * 2)
    # scale 0 is the unconditioned model alone: it repeats the previous token.
    tokens = sample_image_tokens(fake_step, StaticCache(True), keys, num_tokens=4, start_token=2,
                                 forbidden_token=VOCAB, **traced(SamplingConfig(top_k=1, cond_scale=0.0), keys))
    np.testing.assert_array_equal(tokens, [[2, 2, 2, 2]] * 2)


def test_forbidden_token_is_never_drawn():
    keys = image_keys(0, jnp.arange(3), jnp.zeros(3))
    tokens = sample_image_tokens(fake_step, StaticCache(False), keys, num_tokens=6, start_token=0,
                                 forbidden_token=1, **traced(SamplingConfig(top_k=1, cond_scale=1.0), keys))
    assert 1 not in np.asarray(tokens)


def test_each_image_depends_only_on_its_own_key():
    def flat_step(tokens, position, cache):
        return jnp.zeros((tokens.shape[0], 64)), cache

    config = SamplingConfig(cond_scale=1.0)
    run = lambda keys: np.asarray(sample_image_tokens(flat_step, {}, keys, num_tokens=16, start_token=0,
                                                      forbidden_token=64, **traced(config, keys)))
    all_keys = image_keys(5, jnp.array([0, 0, 1, 1]), jnp.array([0, 1, 0, 1]))
    together = run(all_keys)
    alone = np.concatenate([run(all_keys[i:i + 1]) for i in range(4)])
    np.testing.assert_array_equal(together, alone)
    assert len({tuple(row) for row in together}) == 4  # different keys, different images
