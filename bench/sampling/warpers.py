"""Pure logits transformations, with the semantics of transformers' Flax
logits processors and warpers (`FlaxTemperatureLogitsWarper`,
`FlaxTopKLogitsWarper`, `FlaxTopPLogitsWarper`, `FlaxMinLengthLogitsProcessor`),
which is what dalle-mini's own `generate` applies. Shapes: (rows, vocab).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .config import SamplingConfig

NEG_INF = -jnp.inf


def super_condition(cond: jax.Array, uncond: jax.Array, scale: float) -> jax.Array:
    return uncond + scale * (cond - uncond)


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
