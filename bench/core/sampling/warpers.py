"""Pure logits transformations, with the semantics of transformers' Flax
logits processors and warpers (`FlaxTemperatureLogitsWarper`,
`FlaxTopKLogitsWarper`, `FlaxTopPLogitsWarper`, `FlaxMinLengthLogitsProcessor`),
which is what dalle-mini's own `generate` applies. Shapes: (rows, vocab).

`warp` takes the settings as Python constants (the reference loop and the
tests against transformers use it); `warp_rows` takes them as traced
arrays, one value per row, and draws the same tokens.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .config import SamplingConfig

NEG_INF = -jnp.inf


def super_condition(cond: jax.Array, uncond: jax.Array, scale: float) -> jax.Array:
    return uncond + scale * (cond - uncond)


def super_condition_rows(cond: jax.Array, uncond: jax.Array, scale: jax.Array) -> jax.Array:
    """Per-row scale (rows,); a row with scale 1 gets its conditioned logits exactly."""
    scale = scale[:, None]
    return jnp.where(scale == 1.0, cond, super_condition(cond, uncond, scale))


def forbid_token(logits: jax.Array, token_id: int) -> jax.Array:
    """What the min-length processor does while the image is incomplete: the
    end-of-sequence token can never be drawn. An id outside the vocabulary is
    a no-op, as it is in the reference."""
    if not 0 <= token_id < logits.shape[-1]:
        return logits
    return logits.at[..., token_id].set(NEG_INF)


def apply_temperature(logits: jax.Array, temperature: float) -> jax.Array:
    return logits / temperature


def top_k_filter(logits: jax.Array, k: int) -> jax.Array:
    """Keep exactly k entries per row (ties broken towards the lower index, as lax.top_k does)."""
    k = min(max(k, 1), logits.shape[-1])
    values, indices = jax.lax.top_k(logits, k)
    rows = jnp.arange(logits.shape[0])[:, None]
    return jnp.full_like(logits, NEG_INF).at[rows, indices].set(values)


def top_p_filter(logits: jax.Array, p: float) -> jax.Array:
    """Nucleus filter: keep the most likely tokens until their cumulative
    probability reaches p, including the token that crosses it."""
    values, indices = jax.lax.top_k(logits, logits.shape[-1])
    cumulative = jax.nn.softmax(values, axis=-1).cumsum(axis=-1)
    # A token is kept when the mass strictly before it is below p.
    keep = jnp.concatenate([jnp.ones_like(cumulative[:, :1], bool), cumulative[:, :-1] < p], axis=-1)
    kept_values = jnp.where(keep, values, NEG_INF)
    rows = jnp.arange(logits.shape[0])[:, None]
    return jnp.full_like(logits, NEG_INF).at[rows, indices].set(kept_values)


def warp(logits: jax.Array, config: SamplingConfig) -> jax.Array:
    """Temperature, then top-k, then top-p: transformers' order. Disabled
    settings add no work to the compiled program."""
    if config.temperature != 1.0:
        logits = apply_temperature(logits, config.temperature)
    if config.top_k > 0:
        logits = top_k_filter(logits, config.top_k)
    if config.top_p < 1.0:
        logits = top_p_filter(logits, config.top_p)
    return logits


def filter_rows(logits: jax.Array, top_k: jax.Array, top_p: jax.Array) -> jax.Array:
    """Top-k then top-p with a k and a p per row, sharing one sort. A row
    with k = 0 and p = 1 is returned unchanged; otherwise the result equals
    `top_p_filter(top_k_filter(logits, k), p)` bit for bit: the sorted,
    k-masked values are the array the static top-p filter sorts."""
    rows, vocab = logits.shape
    values, indices = jax.lax.top_k(logits, vocab)  # descending, ties towards the lower index
    k = jnp.where(top_k > 0, jnp.clip(top_k, 1, vocab), vocab)[:, None]
    kept_by_k = jnp.arange(vocab)[None, :] < k
    values = jnp.where(kept_by_k, values, NEG_INF)
    cumulative = jax.nn.softmax(values, axis=-1).cumsum(axis=-1)
    below_p = jnp.concatenate([jnp.ones((rows, 1), bool), cumulative[:, :-1] < top_p[:, None]], axis=-1)
    # p = 1 is no filter at all (rounding could push the cumulative mass to 1 before the last token).
    keep = kept_by_k & (below_p | (top_p >= 1.0)[:, None])
    mask = jnp.zeros((rows, vocab), bool).at[jnp.arange(rows)[:, None], indices].set(keep)
    return jnp.where(mask, logits, NEG_INF)


def warp_rows(logits: jax.Array, settings: dict, filtered: bool) -> jax.Array:
    """`warp` with traced per-row settings (`SETTING_KEYS`); the filter runs
    only in programs built with `filtered`. Temperature 1 is an exact no-op
    (a multiplication by 1.0)."""
    logits = logits * settings["inv_temperature"][:, None]
    if filtered:
        logits = filter_rows(logits, settings["top_k"], settings["top_p"])
    return logits
