"""The autoregressive image-token loop, independent of any model.

`step(tokens, position, cache) -> (logits, cache)` is the only thing it
knows about the decoder, so tests can drive it with fake logits. Each image
row carries its own PRNG key, folded with the step index, so an image depends
only on its key: never on the batch it shares, the device it runs on or the
parallel mode.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from .config import SamplingStructure
from .warpers import forbid_token, super_condition_rows, warp_rows

StepFn = Callable[[jax.Array, jax.Array, Any], tuple[jax.Array, Any]]


def image_keys(seed: int, prompt_index: jax.Array, sample_index: jax.Array) -> jax.Array:
    """One key per image from (seed, prompt index, sample index)."""
    base = jax.random.PRNGKey(seed)
    return jax.vmap(lambda p, s: jax.random.fold_in(jax.random.fold_in(base, p), s))(
        jnp.asarray(prompt_index, jnp.uint32), jnp.asarray(sample_index, jnp.uint32))


def sample_image_tokens(step: StepFn, cache: Any, keys: jax.Array, *, num_tokens: int, start_token: int,
                        forbidden_token: int, structure: SamplingStructure, settings: dict) -> jax.Array:
    """Draw `num_tokens` tokens for each of the B rows of `keys`: (B, num_tokens) int32.

    `settings` holds one value per row of each of `SETTING_KEYS` (traced:
    the program does not change with them); `structure` says which passes
    and filters the program has.

    With super-conditioning the decoder runs once over 2B rows, each image's
    conditioned row followed by its unconditioned row (`cache` must hold 2B
    rows in that order), and the token drawn from the mixed logits is fed back
    to both. Interleaving keeps an image's two rows in the same shard when the
    batch axis is split over devices.
    """
    batch = keys.shape[0]
    stacked = structure.unconditioned_pass

    def body(carry, position):
        token, cache = carry
        fed = jnp.repeat(token, 2) if stacked else token
        logits, cache = step(fed[:, None], position, cache)
        # Sampling maths in float32 whatever the compute dtype.
        logits = logits.astype(jnp.float32)
        if stacked:
            pairs = logits.reshape(batch, 2, -1)
            logits = super_condition_rows(pairs[:, 0], pairs[:, 1], settings["cond_scale"])
        logits = warp_rows(forbid_token(logits, forbidden_token), settings, structure.filtered)
        step_keys = jax.vmap(jax.random.fold_in, (0, None))(keys, position)
        token = jax.vmap(jax.random.categorical)(step_keys, logits).astype(jnp.int32)
        return (token, cache), token

    start = jnp.full((batch,), start_token, jnp.int32)
    _, tokens = jax.lax.scan(body, (start, cache), jnp.arange(num_tokens, dtype=jnp.int32))
    return tokens.T
